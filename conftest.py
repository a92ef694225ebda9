"""Repository-level pytest configuration: the plugin itself arrives through its entry point."""
