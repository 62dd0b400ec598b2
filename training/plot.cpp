// Placeholder, replaced by the SVG plot writer.
