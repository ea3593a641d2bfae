"""Local-search kernels: how a task names one (resolve), compiling and caching user C++ (build),
checking a task's kernel parameters (params), the kernel RNG in Python (rng), and the
`loopengine kernels list` table (listing)."""
