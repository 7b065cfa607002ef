"""Training: corpus parsing, mood labels, vocabulary, the BLSTM, the loop, export and publish."""
