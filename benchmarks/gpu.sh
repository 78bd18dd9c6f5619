#!/bin/sh
# One-shot GPU benchmark (see benchmarks/gpu.py): benchmarks/gpu.sh [--dry-run] [flags]
cd "$(dirname "$0")/.." && exec python benchmarks/gpu.py "$@"
