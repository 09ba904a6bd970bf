# Compiles SOURCE and passes only if the compilation fails with a message
# that matches every regular expression in EXPECT (a ;-list).
execute_process(
  COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE_DIR} ${SOURCE}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must be rejected")
endif()
foreach(pattern IN LISTS EXPECT)
  if(NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "${SOURCE}: the compiler's message does not match '${pattern}':\n${err}")
  endif()
endforeach()
message(STATUS "${SOURCE} is rejected with the expected message")
