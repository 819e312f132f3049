# Sourced by the bench/reference scripts: machine_lines prints the lines every machine.txt opens
# with (CPU model, cores, OS, the commit measured and whether the tree had changes, .NET); each
# script adds its own (load, tool versions) after them. Run from the repository root.
machine_lines() {
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores: $(nproc)"
  echo "os: $(uname -sr)"
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!bench/results' || echo ' (with uncommitted changes)')"
  echo "dotnet: $(dotnet --version)"
}
