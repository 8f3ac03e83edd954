# The program shows the library's warnings on stderr: a JSON Schema keyword skipped with
# --schema-ignore-unsupported, and GPU layers asked for where there is no GPU (on machines
# without one). Run by ctest as: cmake -DCORVID=<program> -DMODEL=<stories260K.gguf> -P check_warnings.cmake
if(NOT EXISTS "${MODEL}")
  message("skipped: no model at ${MODEL}")
  return()
endif()
set(schema "{\"type\":\"object\",\"patternProperties\":{\"^a\":{\"type\":\"string\"}}}")
execute_process(COMMAND ${CORVID} run -m ${MODEL} -p x -n 3 --json-schema ${schema}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "an unsupported schema keyword was accepted without the ignore option: ${err}")
endif()
string(FIND "${err}" "patternProperties" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "the refusal does not name the keyword: ${err}")
endif()
execute_process(COMMAND ${CORVID} run -m ${MODEL} -p x -n 3 --json-schema ${schema} --schema-ignore-unsupported
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "corvid run with --schema-ignore-unsupported failed (${rc}): ${err}")
endif()
string(FIND "${err}" "corvid: warning: JSON schema at root: ignored keyword 'patternProperties'" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "the skipped keyword's warning is not on stderr: ${err}")
endif()
