"""TFLite (LiteRT) files, run with the ai-edge-litert interpreter (tf.lite as a fallback)."""
