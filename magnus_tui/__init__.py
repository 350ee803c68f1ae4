"""The magnus terminal workbench (Textual). The core (magnus_core) never imports this package."""
