# Sourced by the bench/reference scripts: machine_lines prints the lines every machine.txt opens
# with (CPU model, cores, OS, the commit measured and whether the tree had changes, .NET); each
# script adds its own (load, tool versions) after them. Run from the repository root.
# Where there is no git checkout or no .NET SDK (the GPU bundle's machine) it still prints every
# line: MACHINE_COMMIT names the commit (the bundle's build), else "unknown"; without an SDK the
# .NET line names the newest runtime `dotnet --list-runtimes` reports.
machine_lines() {
  local commit version
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores: $(nproc)"
  echo "os: $(uname -sr)"
  if [ -n "${MACHINE_COMMIT:-}" ]; then
    echo "commit: $MACHINE_COMMIT"
  elif commit="$(git rev-parse HEAD 2>/dev/null)"; then
    echo "commit: $commit$(git diff --quiet HEAD -- . ':!bench/results' || echo ' (with uncommitted changes)')"
  else
    echo "commit: unknown (not a git checkout)"
  fi
  if version="$(dotnet --version 2>/dev/null)"; then
    echo "dotnet: $version"
  else
    echo "dotnet: no SDK; runtime $(dotnet --list-runtimes 2>/dev/null | grep 'Microsoft.NETCore.App' | tail -n 1 | cut -d' ' -f2 || true)"
  fi
}
