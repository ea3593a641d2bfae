"""loopengine: find mathematical objects by looping generate -> local search -> verify -> rank -> fine-tune."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loopengine")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
