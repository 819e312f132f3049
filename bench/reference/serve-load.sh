#!/usr/bin/env bash
# Requests/s and p50/p99 latency of `gpumlp serve` under load, on loopback only: POST /predict
# (serve-load-digit.png, MNIST test digit 0 as a 112x112 dark-on-light PNG) and POST
# /v2/models/digits/infer (serve-load-v2.json, the same digit's 784 values), each with 1, 16 and 64
# concurrent clients (hey, Debian's package), with batching (--max-batch 32 --max-wait-ms 2, the
# defaults) and without (--max-batch 1). Every run is bounded (REQUESTS requests, hey's 20 s
# timeout per request, 300 s per run); the server is stopped with SIGTERM after each setting and
# must exit 0. Zero errors and zero lost responses are checked: every request answered 200.
#
# Writes into OUT (default bench/results/<date>-serve-load):
#   machine.txt      CPU, cores, OS, git commit, .NET, hey, device, load before and after
#   command.txt      the commands that ran
#   <setting>-<endpoint>-c<N>.txt   hey's output for each run
#   serve-<setting>.log             the server's output (its last line: images per pass)
#   summary.md       one table of every run
# Usage: bench/reference/serve-load.sh [OUT]
# Environment: MODEL=<run folder or .safetensors> (default: trained here, 784-512-256-10, one epoch
#   on 10,000 MNIST images), DEVICE=auto, REQUESTS=3200 (rounded down to a multiple of 64)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=bench/reference/machine.sh
source bench/reference/machine.sh
out="${1:-bench/results/$(date +%Y-%m-%d)-serve-load}"
device="${DEVICE:-auto}"
# hey gives each client REQUESTS/clients requests: a multiple of 64 keeps every run at REQUESTS.
requests=$(( ${REQUESTS:-3200} / 64 * 64 ))
command -v hey >/dev/null || { echo "serve-load: needs hey (apt-get install hey)" >&2; exit 1; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"
scratch="$(mktemp -d)"
server=""
stop_server() { if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -TERM "$server"; wait "$server" || true; fi; server=""; }
trap 'stop_server; rm -rf "$scratch"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }

dotnet build -c Release src/GpuMlp.Cli >/dev/null
gpumlp=(dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll)
model="${MODEL:-}"
: > "$out/command.txt"
if [ -z "$model" ]; then
  model="$scratch/run"
  train=("${gpumlp[@]}" train --device "$device" --epochs 1 --limit-train 10000 --no-test --out "$model")
  echo "${train[*]}" >> "$out/command.txt"
  "${train[@]}" > "$scratch/train.log"
fi
{
  machine_lines
  echo "hey: $(dpkg-query -W -f='${Version}' hey 2>/dev/null || echo unknown)"
  echo "load before: $(load)"
} > "$out/machine.txt"

png="bench/reference/serve-load-digit.png"
v2="bench/reference/serve-load-v2.json"
summary="$out/summary.md"
{
  echo "| batching | endpoint | clients | requests | req/s | p50 ms | p99 ms | 200 answers | errors |"
  echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
} > "$scratch/table.md"
failed=0
for setting in batched unbatched; do
  if [ "$setting" = batched ]; then batch=(--max-batch 32 --max-wait-ms 2); else batch=(--max-batch 1); fi
  serve=("${gpumlp[@]}" serve --model "digits=$model" --device "$device" --port 0 "${batch[@]}")
  echo "${serve[*]}" >> "$out/command.txt"
  "${serve[@]}" > "$out/serve-$setting.log" 2>&1 &
  server=$!
  url=""
  for _ in $(seq 1 600); do
    url="$(grep -o 'listening on http://[0-9.:]*' "$out/serve-$setting.log" | cut -d' ' -f3 || true)"
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$out/serve-$setting.log" >&2; exit 1; }
    sleep 0.2
  done
  [ -n "$url" ] || { echo "serve-load: the server did not start" >&2; exit 1; }
  grep -q '^device' "$out/serve-$setting.log" && sed -n 's/^device /device: /p' "$out/serve-$setting.log" | head -1 > "$scratch/device.txt"
  for endpoint in image v2; do
    for clients in 1 16 64; do
      if [ "$endpoint" = image ]; then
        run=(hey -n "$requests" -c "$clients" -t 20 -m POST -T image/png -D "$png" "$url/predict")
      else
        run=(hey -n "$requests" -c "$clients" -t 20 -m POST -T application/json -D "$v2" "$url/v2/models/digits/infer")
      fi
      echo "${run[*]}" >> "$out/command.txt"
      file="$out/$setting-$endpoint-c$clients.txt"
      timeout 300 "${run[@]}" > "$file"
      rps="$(awk '/Requests\/sec:/ {printf "%.0f", $2}' "$file")"
      p50="$(awk '/ 50% in / {printf "%.2f", $3 * 1000}' "$file")"
      p99="$(awk '/ 99% in / {printf "%.2f", $3 * 1000}' "$file")"
      ok="$(awk '/\[200\]/ {print $2}' "$file")"
      ok="${ok:-0}"
      errors="$(awk '/Error distribution:/ {on = 1; next} on && /\[[0-9]+\]/ {gsub(/[\[\]]/, "", $1); s += $1} END {print s + 0}' "$file")"
      others="$(awk '/Status code distribution:/ {on = 1; next} /Error distribution:/ {on = 0} on && /\[[0-9]+\]/ && !/\[200\]/ {s += $2} END {print s + 0}' "$file")"
      errors=$((errors + others))
      [ "$ok" -eq "$requests" ] && [ "$errors" -eq 0 ] || failed=1
      echo "| $setting | $endpoint | $clients | $requests | $rps | $p50 | $p99 | $ok | $errors |" >> "$scratch/table.md"
    done
  done
  kill -TERM "$server"
  status=0
  wait "$server" || status=$?
  server=""
  [ "$status" -eq 0 ] || { echo "serve-load: serve exited $status after SIGTERM" >&2; failed=1; }
done
echo "load after: $(load)" >> "$out/machine.txt"
cat "$scratch/device.txt" >> "$out/machine.txt" 2>/dev/null || true
{
  echo "# gpumlp serve under load"
  echo
  echo "Loopback only; hey $requests requests per run; model $(grep -m1 '^model ' "$out/serve-batched.log" | sed 's/^model //'); $(cat "$scratch/device.txt" 2>/dev/null)."
  echo "Machine: $(sed -n 's/^cpu: //p' "$out/machine.txt"), $(nproc) cores; load before $(sed -n 's/^load before: //p' "$out/machine.txt"), after $(sed -n 's/^load after: //p' "$out/machine.txt") (1, 5, 15 min)."
  echo "Batched: --max-batch 32 --max-wait-ms 2; unbatched: --max-batch 1. Commands: command.txt."
  echo
  cat "$scratch/table.md"
  echo
  echo "Passes the server ran (its last line after SIGTERM):"
  echo
  for setting in batched unbatched; do echo "- $setting: $(tail -1 "$out/serve-$setting.log")"; done
} > "$summary"
cat "$summary"
exit "$failed"
