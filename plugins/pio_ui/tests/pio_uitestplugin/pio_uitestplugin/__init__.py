"""A third-party plugin that adds a job, a unit-card panel, a chart and a page to pio-ui."""
