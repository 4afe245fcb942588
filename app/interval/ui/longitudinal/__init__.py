"""The longitudinal workspace: timeline, side-by-side views, lesion table, growth charts."""
