"""The run directory, which is data: atomic generations and parquet candidates (archive), the
weights-only checkpoint codec (checkpoint), one writer at a time (lock), and what a received
run may make us import (trust)."""
