# End-to-end check of corvid-make-model and `corvid bench` on a tiny random model: the tool
# writes a model (synthetic vocabulary, so no shared files are needed), `corvid run`
# generates from it, and `corvid bench -o json` reports llama-bench's fields.
# Run by ctest as:
#   cmake -DCORVID=<corvid> -DMAKE_MODEL=<corvid-make-model> -DWORK_DIR=<dir> -P check_bench.cmake
file(MAKE_DIRECTORY ${WORK_DIR})
set(model ${WORK_DIR}/test-q4_k_m.gguf)
file(REMOVE ${model})

execute_process(COMMAND ${MAKE_MODEL} --shape test --type Q4_K_M --seed 7 -o ${model} -q
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${model})
  message(FATAL_ERROR "corvid-make-model failed (${rc}): ${err}")
endif()

# Same seed, same bytes (the weights depend only on the seed, not on the thread count).
execute_process(COMMAND ${MAKE_MODEL} --shape test --type Q4_K_M --seed 7 -o ${model}.2 -q -t 1
  RESULT_VARIABLE rc ERROR_VARIABLE err)
file(SHA256 ${model} h1)
file(SHA256 ${model}.2 h2)
file(REMOVE ${model}.2)
if(NOT rc EQUAL 0 OR NOT h1 STREQUAL h2)
  message(FATAL_ERROR "corvid-make-model is not deterministic for a seed (${rc}): ${err}")
endif()

# Every plain type writes a model that loads.
foreach(type F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_M Q4_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS)
  execute_process(COMMAND ${MAKE_MODEL} --shape test --type ${type} -o ${WORK_DIR}/t.gguf -q
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "corvid-make-model --type ${type} failed (${rc}): ${err}")
  endif()
  execute_process(COMMAND ${CORVID} run -m ${WORK_DIR}/t.gguf -p "Hi" -n 2 --temp 0
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "corvid run on the ${type} test model failed (${rc}): ${err}")
  endif()
endforeach()
file(REMOVE ${WORK_DIR}/t.gguf)

execute_process(COMMAND ${CORVID} run -m ${model} -p "Once upon a time" -n 8 --temp 0
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "generation [0-9]+ tokens")
  message(FATAL_ERROR "corvid run on the test model failed (${rc}): ${err}")
endif()

# (--gpu-layers 0: the checks below are about the CPU rows, also on a machine with a GPU)
execute_process(COMMAND ${CORVID} bench -m ${model} -p 8 -n 4 -r 2 -t 1 -o json --bw-size 64 --gpu-layers 0
  RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "corvid bench failed (${rc}): ${err}")
endif()
string(JSON n_rows ERROR_VARIABLE jerr LENGTH "${json}")
if(jerr OR NOT n_rows EQUAL 2)
  message(FATAL_ERROR "corvid bench -o json: expected an array of 2 rows (${jerr}): ${json}")
endif()
foreach(i 0 1)
  foreach(field model_filename model_type model_size model_n_params backends n_threads n_prompt n_gen n_depth
          avg_ts stddev_ts samples_ts samples_ns avg_ns test_time)
    string(JSON v ERROR_VARIABLE jerr GET "${json}" ${i} ${field})
    if(jerr)
      message(FATAL_ERROR "corvid bench -o json: row ${i} lacks '${field}': ${json}")
    endif()
  endforeach()
  string(JSON n_samples LENGTH "${json}" ${i} samples_ts)
  string(JSON threads GET "${json}" ${i} n_threads)
  string(JSON backend GET "${json}" ${i} backends)
  string(JSON avg GET "${json}" ${i} avg_ts)
  if(NOT n_samples EQUAL 2 OR NOT threads EQUAL 1 OR NOT backend STREQUAL "CPU" OR NOT avg GREATER 0)
    message(FATAL_ERROR "corvid bench -o json: row ${i} has wrong values: ${json}")
  endif()
endforeach()
string(JSON p0 GET "${json}" 0 n_prompt)
string(JSON g1 GET "${json}" 1 n_gen)
string(JSON roof GET "${json}" 1 roofline_ts)
if(NOT p0 EQUAL 8 OR NOT g1 EQUAL 4 OR NOT roof GREATER 0)
  message(FATAL_ERROR "corvid bench -o json: expected pp8 then tg4 with a roofline: ${json}")
endif()

# The markdown table names the tests; CSV has a header row with llama-bench's names.
execute_process(COMMAND ${CORVID} bench -m ${model} -p 8 -n 4 -r 1 -t 1 -d 0,4 --no-bw
  RESULT_VARIABLE rc OUTPUT_VARIABLE md ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT md MATCHES "\\| +pp8 \\|" OR NOT md MATCHES "tg4 @ d4")
  message(FATAL_ERROR "corvid bench (md) failed (${rc}): ${err}\n${md}")
endif()
execute_process(COMMAND ${CORVID} bench -m ${model} -p 8 -n 0 -r 1 -t 1 -o csv --no-bw
  RESULT_VARIABLE rc OUTPUT_VARIABLE csv ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT csv MATCHES "model_filename,model_type,model_size" OR NOT csv MATCHES "avg_ts")
  message(FATAL_ERROR "corvid bench (csv) failed (${rc}): ${err}\n${csv}")
endif()

# Failures: a message and a non-zero exit.
execute_process(COMMAND ${CORVID} bench -m /nonexistent.gguf RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "nonexistent.gguf")
  message(FATAL_ERROR "corvid bench on a missing file: rc=${rc} stderr=${err}")
endif()
execute_process(COMMAND ${MAKE_MODEL} --shape nope --type Q4_0 -o ${WORK_DIR}/x.gguf RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "unknown shape")
  message(FATAL_ERROR "corvid-make-model with an unknown shape: rc=${rc} stderr=${err}")
endif()
message(STATUS "ok: corvid-make-model and corvid bench")
