# End-to-end check of `corvid perplexity` on stories260K and the WikiText-2 test text:
# the running/final output format, -b independence, a too-short text failing cleanly, and the
# KL-divergence round trip (the model against its own saved logits: KLD 0, same top 100%).
# Run by ctest as: cmake -DCORVID=<program> -DSHARED=<../shared> -DWORK=<scratch dir> -P perplexity_check.cmake
set(model "${SHARED}/models/stories260K.gguf")
set(text "${SHARED}/corpora/wiki.test.raw")
if(NOT EXISTS "${model}" OR NOT EXISTS "${text}")
  message("skipped: ${model} or ${text} is missing")
  return()
endif()
file(MAKE_DIRECTORY "${WORK}")
file(READ "${text}" head LIMIT 40000)
file(WRITE "${WORK}/text.txt" "${head}")

function(run_ppl out_var rc_var err_var)
  execute_process(COMMAND ${CORVID} perplexity -m ${model} -t 1 ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
  set(${err_var} "${err}" PARENT_SCOPE)
endfunction()

# 1. Plain perplexity: [1]x.xxxx,[2]...,[4]... then the final estimate with its error.
run_ppl(out rc err -f ${WORK}/text.txt -c 64 --chunks 4)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "corvid perplexity failed (${rc}): ${err}")
endif()
if(NOT out MATCHES "^\\[1\\][0-9]+\\.[0-9][0-9][0-9][0-9],\\[2\\][0-9.]+,\\[3\\][0-9.]+,\\[4\\]([0-9]+\\.[0-9][0-9][0-9][0-9]),\n")
  message(FATAL_ERROR "unexpected running output: ${out}")
endif()
set(last "${CMAKE_MATCH_1}")
if(NOT out MATCHES "Final estimate: PPL = ([0-9]+\\.[0-9][0-9][0-9][0-9]) \\+/- ([0-9]+\\.[0-9][0-9][0-9][0-9][0-9])\n")
  message(FATAL_ERROR "no final estimate in: ${out}")
endif()
set(final "${CMAKE_MATCH_1}")
if(NOT final STREQUAL last OR final LESS 10 OR final GREATER 1000)
  message(FATAL_ERROR "final PPL ${final} vs last running value ${last}")
endif()
if(NOT err MATCHES "evaluating 4 of [0-9]+ chunks of 64 tokens")
  message(FATAL_ERROR "unexpected progress on stderr: ${err}")
endif()

# 2. The batch size does not change the result (chunks of 64 in batches of 24).
run_ppl(out_b rc err -f ${WORK}/text.txt -c 64 -b 24 --chunks 4)
if(NOT rc EQUAL 0 OR NOT out_b MATCHES "Final estimate: PPL = ${final} ")
  message(FATAL_ERROR "-b 24 gives another result (${rc}): ${out_b} ${err}")
endif()

# 3. A text shorter than two chunks: exit code 1 and a message naming the sizes.
file(WRITE "${WORK}/short.txt" "Once upon a time there was a little cat.")
run_ppl(out rc err -f ${WORK}/short.txt -c 64)
if(NOT rc EQUAL 1 OR NOT err MATCHES "tokenizes to only [0-9]+ tokens; a context of 64 needs at least 128")
  message(FATAL_ERROR "too-short text: rc=${rc} stderr=${err}")
endif()

# 4. KL divergence: save the base log-probabilities, compare the same model against them.
file(REMOVE "${WORK}/base.kld")
run_ppl(out rc err -f ${WORK}/text.txt -c 64 --chunks 3 --kl-divergence-base ${WORK}/base.kld)
if(NOT rc EQUAL 0 OR NOT EXISTS "${WORK}/base.kld" OR EXISTS "${WORK}/base.kld.tmp")
  message(FATAL_ERROR "saving base logits failed (${rc}): ${err}")
endif()
run_ppl(out rc err --kl-divergence --kl-divergence-base ${WORK}/base.kld -f ${WORK}/text.txt)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "--kl-divergence failed (${rc}): ${err}")
endif()
foreach(line "Mean    KLD:   0.000000 ±" "Same top p: 100.000 ± 0.000 %" "Mean ln\\(PPL\\(Q\\)/PPL\\(base\\)\\) *: *-?0.000000 ±")
  if(NOT out MATCHES "${line}")
    message(FATAL_ERROR "KL output lacks '${line}': ${out}")
  endif()
endforeach()

# 5. A base file made with another context is rejected, as are a text file and a missing file.
run_ppl(out rc err --kl-divergence --kl-divergence-base ${WORK}/base.kld -c 128)
if(NOT rc EQUAL 1 OR NOT err MATCHES "made with a context of 64, not 128")
  message(FATAL_ERROR "context mismatch: rc=${rc} stderr=${err}")
endif()
foreach(bad "${WORK}/short.txt" "${WORK}/missing.kld")
  run_ppl(out rc err --kl-divergence --kl-divergence-base ${bad})
  if(NOT rc EQUAL 1 OR NOT err MATCHES "not a corvid base-logits file|cannot open")
    message(FATAL_ERROR "bad base file ${bad}: rc=${rc} stderr=${err}")
  endif()
endforeach()
message(STATUS "ok: corvid perplexity (PPL ${final} on 4 chunks of 64)")
