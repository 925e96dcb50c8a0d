"""The delivery engine: source -> mapping -> validation -> delivery -> report."""
