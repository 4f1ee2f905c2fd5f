"""Reports: indicator computations (one module for every figure), report builders and renderers."""
