"""Small modal screens: help, secret prompt, re-run plan, pipeline picker."""
