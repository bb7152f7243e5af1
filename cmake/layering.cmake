# The dependency table of the project, "folder:dependency,dependency": which folders each folder's
# code may include (root-relative "folder/header.h"). Dependencies point one way; a folder may also use what its dependencies
# depend on (the closure is computed below). The README's layout table says the same in words.
# Run as a test: cmake -DSOURCE_DIR=<root> -P cmake/layering.cmake (ctest name `layering`).
cmake_minimum_required(VERSION 3.25)
set(hilq_layers
  "base:"
  "model:base"
  "kernels:"
  "runtime:model,kernels"
  "qat:model,kernels"
  "protocol:model"
  "db:"
  "search:model,runtime,db,qat"
  "agent:runtime,kernels,protocol"
  "reports:db,base"
  "host:search,db,protocol,reports"
)
# Programs sit above every library: a main may also include what its target links beyond its
# folder's table ("file:folder,folder").
set(hilq_program_layers
  "qat/main.cpp:search,db"
)

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "layering: pass -DSOURCE_DIR=<repository root>")
endif()

set(folders "")
foreach(entry IN LISTS hilq_layers)
  string(FIND "${entry}" ":" colon)
  string(SUBSTRING "${entry}" 0 ${colon} name)
  math(EXPR rest "${colon} + 1")
  string(SUBSTRING "${entry}" ${rest} -1 deps)
  string(REPLACE "," ";" deps "${deps}")
  list(APPEND folders ${name})
  set(direct_${name} ${deps})
endforeach()

# Closure: a folder may include itself, its dependencies and theirs.
foreach(name IN LISTS folders)
  set(pending ${direct_${name}})
  set(allowed_${name} ${name})
  while(pending)
    list(POP_FRONT pending dep)
    if(NOT dep IN_LIST allowed_${name})
      list(APPEND allowed_${name} ${dep})
      list(APPEND pending ${direct_${dep}})
    endif()
  endwhile()
endforeach()

set(violations 0)
set(checked 0)
foreach(name IN LISTS folders)
  if(NOT IS_DIRECTORY "${SOURCE_DIR}/${name}")
    continue()
  endif()
  file(GLOB_RECURSE sources RELATIVE "${SOURCE_DIR}"
       "${SOURCE_DIR}/${name}/*.h" "${SOURCE_DIR}/${name}/*.cpp" "${SOURCE_DIR}/${name}/*.inc")
  foreach(source IN LISTS sources)
    math(EXPR checked "${checked} + 1")
    set(allowed ${allowed_${name}})
    foreach(entry IN LISTS hilq_program_layers)
      string(FIND "${entry}" ":" colon)
      string(SUBSTRING "${entry}" 0 ${colon} program)
      if(program STREQUAL source)
        math(EXPR rest "${colon} + 1")
        string(SUBSTRING "${entry}" ${rest} -1 extra)
        string(REPLACE "," ";" extra "${extra}")
        list(APPEND allowed ${extra})
      endif()
    endforeach()
    file(STRINGS "${SOURCE_DIR}/${source}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS includes)
      if(NOT line MATCHES "\"([^\"/]+)/")
        continue()  # a header of the same folder, named without a folder
      endif()
      set(target_folder "${CMAKE_MATCH_1}")
      if(NOT target_folder IN_LIST folders)
        continue()  # tests/, a system-style path: not a project folder
      endif()
      if(NOT target_folder IN_LIST allowed)
        string(STRIP "${line}" line)
        message(SEND_ERROR "layering: ${source}: ${line}: ${name}/ may include only "
                           "${allowed}")
        math(EXPR violations "${violations} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations GREATER 0)
  message(FATAL_ERROR "layering: ${violations} include(s) against the dependency table")
endif()
message(STATUS "layering: ${checked} files checked, every include follows the dependency table")
