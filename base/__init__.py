"""The bottom layer: settings (`base.settings`) and the error type of bad input
(`base.errors`). It imports nothing of hailong's, and every other package may import it."""
