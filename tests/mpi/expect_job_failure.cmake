# Runs an MPI job that must fail: it passes when the job exits non-zero within
# WITHIN seconds and its output matches EXPECT. LIMIT (longer) ends a job that
# deadlocked.
# cmake -DCOMMAND="mpirun;-np;2;fault;throw" -DEXPECT=regex -DWITHIN=s -DLIMIT=s -P expect_job_failure.cmake
string(TIMESTAMP start "%s")
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT ${LIMIT})
string(TIMESTAMP end "%s")
math(EXPR took "${end} - ${start}")
message("exit: ${rc}, ${took} s\n--- stdout\n${out}\n--- stderr\n${err}")
if(rc STREQUAL "0")
  message(FATAL_ERROR "the job succeeded; it should have failed")
endif()
if(rc MATCHES "timeout")
  message(FATAL_ERROR "the job did not stop within ${LIMIT} s: a deadlock")
endif()
if(took GREATER WITHIN)
  message(FATAL_ERROR "the job took ${took} s to stop, more than ${WITHIN} s")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "the output does not say: ${EXPECT}")
endif()
if("${out}${err}" MATCHES "finished its steps")
  message(FATAL_ERROR "a rank went on after another failed")
endif()
