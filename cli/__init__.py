"""The one front door: ``bgm train|serve|compose``. Imports each part lazily."""
