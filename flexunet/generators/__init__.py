"""Dataset generators: raw Herlev reader, 13-copy image/mask generator, grouped split, synthetic cells."""
