"""Domain plugins and the plugin SDK (plugin SDK issue). Built-in plugins load through entry points."""
