"""pagecheck: find struct page role misuse in Linux kernel C source."""

__version__ = "0.1.0"
INFORMATION_URI = "https://github.com/pagecheck/pagecheck"
