"""bgm core: tokens, moods, song form, arrangement, MIDI and audio, settings, the model contract, training
events and defaults, and the rules for music files. No TF, gRPC or Discord (import-linter checks it)."""
