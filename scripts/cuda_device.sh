#!/usr/bin/env bash
# The CUDA backend's build, tests, benchmark and profile on a GPU machine, in one command
# (the device machine of this workplace has no Debian packages: they travel as .deb files).
#
#   scripts/cuda_device.sh STEP...      steps, in the order given:
#     build            cmake (sm_90 only, Release) + build into build-dev
#     build-tools      the same, only the corvid program and the model writer (no tests)
#     test             the CUDA conformance tests and the end-to-end checks (ctest)
#     e2e=N            the end-to-end checks N times in a row (to e2e.log): flaky or steady
#     models=T1,T2     write random-weight llama2-7b models of these types to /tmp/m
#     bench[=TAG]      corvid bench pp512 / tg128 on every model in /tmp/m (to bench[-TAG].md;
#                      run it under env settings, e.g. CORVID_CUDA_FUSE=0, for an A/B)
#     tg[=TAG]         the same for tg128 alone (to tg[-TAG].md)
#     profile=T        ncu kernel durations per decode step of /tmp/m/7b-T.gguf, summed
#                      per kernel name (graphs off, so that every launch is seen)
#     profile-pp=T     the same for one 512-token prompt (pp512)
#     trace=T          the step timeline (CORVID_CUDA_TRACE, cuda_trace.h) of one 512-token prompt
#                      and one decode step of /tmp/m/7b-T.gguf: GPU time per op between events,
#                      host enqueue time, time the GPU had caught up with the host (to trace-T.txt)
#     ab=VAR=VALUE     tg128 on every model in /tmp/m four times, alternating the default and
#                      VAR=VALUE (e.g. ab=CORVID_CUDA_RING=1): an A/B on one machine, to results.md
#     build-as=DIR:FLAGS  the corvid program alone, built into DIR with extra CUDA compiler
#                      flags (e.g. build-as=build-x:-DSOME_OPTION), for an A/B
#                      of a compile-time choice with tgs=
#     tgs=SPEC|SPEC... tg128 on every model in /tmp/m for each SPEC in turn, two rounds, to
#                      results.md; a SPEC is space-separated VAR=VALUE settings and optionally
#                      bin=DIR (the corvid program of build-as=DIR), e.g.
#                      "tgs=|bin=build-x|CORVID_CUDA_STREAM_BLOCKS=2"
#     same=T:VAR=VALUE greedy text of /tmp/m/7b-T.gguf with and without VAR=VALUE, compared
#     patterns         scripts/cuda_read_patterns.cu: how fast the 7B Q4_0 step's weights can be read,
#                      by access pattern and launch form (to results.md)
#     ncu=T:REGEX      ncu's speed-of-light, occupancy, launch and warp-stall sections for 4
#                      decode launches of the kernels matching REGEX in /tmp/m/7b-T.gguf (to ncu-T.txt)
#     ncu-pp=T:REGEX   the same for 4 launches during 512-token prompts (past the first 40)
#     ncu-src=T:REGEX  the full section set for 4 decode launches, and where their warps stall by
#                      SASS instruction (samples by opcode, the 40 top lines; to ncu-src-T.txt)
#     sanitize[=TOOL:REGEX]  compute-sanitizer (memcheck by default; racecheck, synccheck,
#                      initcheck) over the CUDA test cases matching REGEX (doctest -tc,
#                      default "cuda*"), to sanitize[-TOOL].log
#     cpu-amx          the CPU backend's conformance and attention tests on this host's
#                      processor, which has AMX (the project's VM and CI may not: there the
#                      AMX paths go untested); CPU-only build in build-cpu
#     cpu-bench        after cpu-amx: corvid bench -p 128 -n 32 -t 2 on random-weight 1B models
#                      (Q4_0, Q4_K_M, Q8_0, F16) with each x86 path this processor has
#                      (CORVID_CPU_ISA=amx|avx512), to cpu-bench.md
#
# Setup here, once (packages the build needs, and the vocabularies the model tool copies):
#   mkdir -p .deps/vocab && (cd .deps && apt-get download libpcre2-dev libpcre2-8-0 \
#     libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 doctest-dev libcli11-dev nlohmann-json3-dev)
#   cp ../shared/vocab/ggml-vocab-llama-{spm,bpe}.gguf .deps/vocab/; echo /.deps/ >> .git/info/exclude
#   mkdir -p .deps/shared/models .deps/shared/vocab && cp ../shared/models/stories260K.gguf \
#     .deps/shared/models/ && cp ../shared/vocab/ggml-vocab-qwen2.gguf .deps/shared/vocab/
# and carry .deps with the call (.deps/shared becomes ../shared there, so that the e2e checks
# of stories260K and the tiny qwen2 run on the GPU; Gemma 3 270M is too large to travel).
# Results go to $OUT: the logs, profile-T.csv and every table also appended to results.md.
# $OUT brings back at most 8 files, so several bench/tg steps (env-prefixed calls of this
# script for A/B) are best read from results.md; point OUT at a scratch folder and copy what
# matters, as in: OUT=/tmp/o scripts/cuda_device.sh ...; cp /tmp/o/results.md $OUT.
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/m
J=$(nproc)

if [ -d .deps ]; then
    mkdir -p /tmp/deps
    for f in .deps/*.deb; do dpkg -x "$f" /tmp/deps; done
    for pc in /tmp/deps/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc; do sed -i "s|^prefix=.*|prefix=/tmp/deps/usr|" "$pc"; done
    export PKG_CONFIG_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu/pkgconfig
    export CMAKE_PREFIX_PATH=/tmp/deps/usr
    export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
    export CPATH=/tmp/deps/usr/include
fi
if [ -d .deps/shared ] && [ ! -e ../shared ]; then mkdir -p ../shared && cp -r .deps/shared/. ../shared/; fi
B=build-dev
CORVID=$B/tools/corvid
# "-m FILE" for every model written by models=.
model_args() { for f in /tmp/m/*.gguf; do printf '%s\n' -m "$f"; done; }

for step in "$@"; do
    case "$step" in
    build | build-tools)
        cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DCORVID_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUT/cmake.log" 2>&1 ||
            { tail -30 "$OUT/cmake.log"; exit 1; }
        targets=()
        [ "$step" = build-tools ] && targets=(--target corvid-cli corvid-make-model) # no tests: quicker
        cmake --build $B -j"$J" "${targets[@]}" >"$OUT/build.log" 2>&1 ||
            { grep -E "error|Error" "$OUT/build.log" | head -30; exit 1; }
        echo "$step: ok"
        ;;
    test)
        # (a time limit per entry: a kernel that never finishes costs minutes, not the call)
        (cd $B && ctest -j8 --timeout 180 --output-on-failure -R "cuda|e2e|end-to-end" >"$OUT/ctest.log" 2>&1) || true
        grep -E "tests passed|tests failed|Failed|\*\*\*" "$OUT/ctest.log" | head -20
        ;;
    e2e=*)
        # The end-to-end checks on the GPU N times in a row (a flaky failure against a steady one).
        n=${step#e2e=}
        for i in $(seq "$n"); do
            (cd $B && ./tests/corvid-tests -tc='e2e:*' 2>&1) | grep -E "MESSAGE|ERROR|Status" | cut -c1-300 >>"$OUT/e2e.log"
        done
        echo "e2e x$n: $(grep -c 'Status: SUCCESS' "$OUT/e2e.log") passed, $(grep -c 'Status: FAILURE' "$OUT/e2e.log") failed"
        ;;
    models=*)
        IFS=, read -ra types <<<"${step#models=}"
        for t in "${types[@]}"; do
            lt=$(echo "$t" | tr 'A-Z' 'a-z')
            [ -f /tmp/m/7b-$lt.gguf ] && continue
            $B/tools/corvid-make-model --shape llama2-7b --type "$t" --vocab .deps/vocab/ggml-vocab-llama-spm.gguf \
                -o /tmp/m/7b-$lt.gguf -q -t "$J"
        done
        ls -la /tmp/m
        ;;
    bench | bench=* | tg | tg=*)
        name=${step%%=*}
        tag=${step#"$name"}
        mapfile -t args < <(model_args)
        if [ "$name" = tg ]; then args+=(-p 0); else args+=(-p 512); fi
        $CORVID bench "${args[@]}" -n 128 -r 3 -o md | tee "$OUT/$name${tag/=/-}.md"
        { echo "### $step ($(env | grep -E '^CORVID_' | tr '\n' ' ' || true))"; cat "$OUT/$name${tag/=/-}.md"; } >>"$OUT/results.md"
        ;;
    profile=* | profile-pp=*)
        t=$(echo "${step#*=}" | tr 'A-Z' 'a-z')
        if [ "${step%%=*}" = profile-pp ]; then
            # One 512-token prompt after the warm-up one: two prompt steps (get_rows once each).
            bargs=(-p 512 -n 0 -r 1); t=pp-$t
        else
            # No prompt, 3 tokens generated after the warm-up one: four decode steps.
            bargs=(-p 0 -n 3 -r 1)
        fi
        CORVID_CUDA_GRAPHS=0 ncu --clock-control none --metrics gpu__time_duration.sum --csv \
            $CORVID bench -m /tmp/m/7b-${t#pp-}.gguf "${bargs[@]}" >"$OUT/ncu-$t.csv" 2>"$OUT/ncu-$t.err" || tail -5 "$OUT/ncu-$t.err"
        python3 - "$OUT/ncu-$t.csv" <<'EOF'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = rows[0]; rows = rows[1:]
ki, mi, vi, ui = (hdr.index(x) for x in ("Kernel Name", "Metric Name", "Metric Value", "Metric Unit"))
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9, "nsecond": 1.0, "usecond": 1e3, "msecond": 1e6, "second": 1e9}
ids = [r for r in rows if r[mi] == "gpu__time_duration.sum"]
# Every decode step launches the same kernels and ends with one get_rows_kernel (the rows
# that reach the output head): per-step figures are the totals over the steps divided by
# their number. The bandwidth probe's read_kernel is left out.
ids = [r for r in ids if "read_kernel" not in r[ki]]
n_steps = max(1, sum(1 for r in ids if "get_rows_kernel" in r[ki]))
agg = collections.defaultdict(lambda: [0, 0.0])
for r in ids:
    name = r[ki].split("(")[0][:70]
    agg[name][0] += 1
    agg[name][1] += float(r[vi].replace(",", "")) * scale.get(r[ui], 1.0)
for v in agg.values():
    v[0] /= n_steps
    v[1] /= n_steps
total = sum(v[1] for v in agg.values())
print(f"per step ({n_steps} steps): {sum(v[0] for v in agg.values()):.0f} kernels, {total/1000:.1f} us of kernel time")
for name, (n, ns) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:25]:
    print(f"{ns/1000:9.1f} us {n:7.1f} x {ns/n/1000:7.2f} us  {name}")
EOF
        ;;
    trace=*)
        t=$(echo "${step#trace=}" | tr 'A-Z' 'a-z')
        rm -f /tmp/trace-pp /tmp/trace-tg
        # 3 prompt steps (the warm-up and 2), 9 decode steps (the warm-up token and 8).
        CORVID_CUDA_TRACE=/tmp/trace-pp $CORVID bench -m /tmp/m/7b-$t.gguf -p 512 -n 0 -r 2 >/dev/null
        CORVID_CUDA_TRACE=/tmp/trace-tg $CORVID bench -m /tmp/m/7b-$t.gguf -p 0 -n 8 -r 1 >/dev/null
        # The last step of each (warm, steady state): its compute calls are the last
        # blocks / steps blocks of the file.
        for k in pp tg; do
            steps=3; [ $k = tg ] && steps=9
            awk -v steps=$steps -v k=$k '/^# step/{n++} {line[NR]=$0; blk[NR]=n} END{keep=n-n/steps; for(i=1;i<=NR;i++) if(blk[i]>keep){s=line[i]; if(s ~ /^# step/) sub(/^# /, "# " k " ", s); print s}}' /tmp/trace-$k
        done | tee "$OUT/trace-$t.txt"
        ;;
    ab=*)
        mapfile -t args < <(model_args)
        for round in 1 2; do
            for setting in CORVID_AB_DEFAULT=1 "${step#ab=}"; do # a no-op variable for the default
                echo "### ab round $round: $setting" >>"$OUT/results.md"
                env "$setting" $CORVID bench "${args[@]}" -p 0 -n 128 -r 3 -o md | tee -a "$OUT/results.md"
            done
        done
        ;;
    build-as=*)
        spec=${step#build-as=}
        dir=${spec%%:*}
        cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCORVID_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
            "-DCMAKE_CUDA_FLAGS=${spec#*:}" >"$OUT/cmake-$dir.log" 2>&1 || { tail -30 "$OUT/cmake-$dir.log"; exit 1; }
        cmake --build "$dir" -j"$J" --target corvid-cli >"$OUT/build-$dir.log" 2>&1 ||
            { grep -E "error|Error" "$OUT/build-$dir.log" | head -30; exit 1; }
        echo "$step: ok"
        ;;
    tgs=*)
        mapfile -t args < <(model_args)
        IFS='|' read -ra specs <<<"${step#tgs=}"
        declare -A failed=() # a spec that failed or hung once is not run again (a hang costs 90 s a run)
        for round in 1 2; do
            for spec in "${specs[@]}"; do
                [ -n "${failed[k$spec]:-}" ] && continue
                bin=$CORVID settings=(CORVID_AB_DEFAULT=1) # a no-op variable: env needs one
                for tok in $spec; do
                    if [[ $tok == bin=* ]]; then bin=${tok#bin=}/tools/corvid; else settings+=("$tok"); fi
                done
                echo "### tgs round $round: $bin ${settings[*]}" >>"$OUT/results.md"
                timeout 90 env "${settings[@]}" "$bin" bench "${args[@]}" -p 0 -n 128 -r 3 -o md | tee -a "$OUT/results.md" ||
                    { echo "(failed or timed out)" | tee -a "$OUT/results.md"; failed[k$spec]=1; }
            done
        done
        ;;
    same=*)
        # Greedy text of /tmp/m/7b-T.gguf with and without a setting: a path that must give the
        # same bits (e.g. same=Q4_0:CORVID_CUDA_STREAM_UNITS=1) gives the same 96 tokens.
        spec=${step#same=}
        t=$(echo "${spec%%:*}" | tr 'A-Z' 'a-z')
        gen() { timeout 60 env CORVID_AB_DEFAULT=1 "$@" $CORVID run -m /tmp/m/7b-$t.gguf -p "Once upon a time" -n 96 \
            --temp 0 --ignore-eos 2>/dev/null; }
        gen >"$OUT/same-a.txt"
        gen "${spec#*:}" >"$OUT/same-b.txt"
        if cmp -s "$OUT/same-a.txt" "$OUT/same-b.txt" && [ -s "$OUT/same-a.txt" ]; then
            echo "same $spec: identical greedy text"
        else
            echo "same $spec: DIFFERENT"; diff "$OUT/same-a.txt" "$OUT/same-b.txt" | head -5
        fi | tee -a "$OUT/results.md"
        ;;
    patterns)
        nvcc -O3 -arch=sm_90 -std=c++17 -I backends -o /tmp/read_patterns scripts/cuda_read_patterns.cu &&
            { echo "### read patterns"; timeout 240 /tmp/read_patterns; } 2>&1 | tee -a "$OUT/results.md"
        ;;
    ncu=* | ncu-pp=*)
        spec=${step#*=}
        t=$(echo "${spec%%:*}" | tr 'A-Z' 'a-z')
        if [ "${step%%=*}" = ncu-pp ]; then skip=40 bargs=(-p 512 -n 0 -r 1); else skip=300 bargs=(-p 0 -n 2 -r 1); fi
        CORVID_CUDA_GRAPHS=0 ncu --clock-control none -k "regex:${spec#*:}" --launch-skip $skip --launch-count 4 \
            --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
            $CORVID bench -m /tmp/m/7b-$t.gguf "${bargs[@]}" >"$OUT/ncu-$t.txt" 2>&1 || tail -5 "$OUT/ncu-$t.txt"
        grep -E "^  [a-z_]+.*\(|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Stall|Warp Cycles" "$OUT/ncu-$t.txt" | head -60
        ;;
    ncu-src=*)
        # Where the warps of the kernels matching REGEX stall, by SASS instruction: one decode
        # step's launches (graphs off), the full section set, then the source page summed by
        # opcode and its 40 most-sampled lines (to ncu-src-T.txt and ncu-src-T.csv).
        spec=${step#*=}
        t=$(echo "${spec%%:*}" | tr 'A-Z' 'a-z')
        rm -f /tmp/ncu-src.ncu-rep
        CORVID_CUDA_GRAPHS=0 ncu --clock-control none -k "regex:${spec#*:}" --launch-skip 100 --launch-count 4 \
            --set full --import-source no -o /tmp/ncu-src $CORVID bench -m /tmp/m/7b-$t.gguf -p 0 -n 2 -r 1 \
            >"$OUT/ncu-src-$t.log" 2>&1 || tail -5 "$OUT/ncu-src-$t.log"
        ncu --import /tmp/ncu-src.ncu-rep --page details >"$OUT/ncu-src-$t.txt" 2>&1 || true
        ncu --import /tmp/ncu-src.ncu-rep --page source --print-source sass --csv >/tmp/ncu-src.csv 2>&1 || true
        python3 - /tmp/ncu-src.csv <<'EOF2' | tee -a "$OUT/ncu-src-$t.txt"
import csv, sys, collections
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
head = next((i for i, r in enumerate(rows) if any("Warp Stall Sampling (All" in c for c in r)), None)
if head is None:
    print("no stall sampling columns; first lines:"); [print(r) for r in rows[:5]]; sys.exit(0)
h = rows[head]
col = next(i for i, c in enumerate(h) if "Warp Stall Sampling (All" in c)
src = next((i for i, c in enumerate(h) if c.strip() == "Source"), 1)
stall_cols = [i for i, c in enumerate(h) if c.startswith("stall_") or "Stall" in c and i != col]
def num(x):
    try: return float(x.replace(",", ""))
    except ValueError: return 0.0
lines = [r for r in rows[head + 1:] if len(r) == len(h)]
total = sum(num(r[col]) for r in lines) or 1
by_op = collections.Counter()
for r in lines: by_op[r[src].split()[0] if r[src].split() else "?"] += num(r[col])
print("columns:", [h[i] for i in stall_cols][:30])
print("samples by opcode (all launches):")
for op, v in by_op.most_common(25): print(f"  {op:24s} {100 * v / total:5.1f}%")
print("top lines:")
for r in sorted(lines, key=lambda r: -num(r[col]))[:40]:
    extra = " ".join(f"{h[i]}={r[i]}" for i in stall_cols if num(r[i]) > 0.05 * num(r[col]))[:300]
    print(f"  {100 * num(r[col]) / total:5.1f}%  {r[src][:70]:70s} {extra}")
EOF2
        ;;
    sanitize | sanitize=*)
        spec=${step#sanitize}; spec=${spec#=}
        tool=${spec%%:*}; tool=${tool:-memcheck}
        tc="cuda*"; [[ "$spec" == *:* ]] && tc=${spec#*:}
        compute-sanitizer --tool "$tool" --error-exitcode 3 $B/tests/corvid-tests -tc="$tc" >"$OUT/sanitize-$tool.log" 2>&1 &&
            echo "sanitize $tool ($tc): clean" || { echo "sanitize $tool ($tc): FAILED"; grep -m 20 -E "=========" "$OUT/sanitize-$tool.log"; }
        tail -3 "$OUT/sanitize-$tool.log"
        ;;
    cpu-amx)
        grep -o 'amx[a-z0-9_]*' /proc/cpuinfo | sort | uniq -c
        cmake -S . -B build-cpu -DCMAKE_BUILD_TYPE=Release -DCORVID_CUDA=OFF >"$OUT/cmake-cpu.log" 2>&1 ||
            { tail -30 "$OUT/cmake-cpu.log"; exit 1; }
        cmake --build build-cpu -j"$J" >"$OUT/build-cpu.log" 2>&1 ||
            { grep -E "error|Error" "$OUT/build-cpu.log" | head -30; exit 1; }
        build-cpu/tests/corvid-tests -tc="*conform*,attention*" 2>&1 | grep -E "MESSAGE|ERROR|FAILED|test cases|assertions" | head -40
        ;;
    cpu-bench)
        mkdir -p /tmp/cpu-m
        for t in Q4_0 Q4_K_M Q8_0 F16; do
            [ -f /tmp/cpu-m/1b-$t.gguf ] || build-cpu/tools/corvid-make-model -q --shape 1b --type $t -o /tmp/cpu-m/1b-$t.gguf >/dev/null
        done
        for isa in amx avx512; do
            echo "### CORVID_CPU_ISA=$isa" | tee -a "$OUT/cpu-bench.md"
            CORVID_CPU_ISA=$isa build-cpu/tools/corvid bench $(for f in /tmp/cpu-m/*.gguf; do printf -- '-m %s ' "$f"; done) \
                -p 128 -n 32 -t 2 -r 2 2>&1 | tee -a "$OUT/cpu-bench.md"
        done
        ;;
    *) echo "unknown step $step"; exit 2 ;;
    esac
done
