"""bgm core: tokens, moods, song form, arrangement, MIDI and audio. No TF, gRPC or Discord."""
