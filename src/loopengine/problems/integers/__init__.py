"""Integer arithmetic learned from generated examples: GCD and modular arithmetic."""
