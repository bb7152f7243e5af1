# Dependencies of the cross-built hil-agent (aarch64-qemu preset, HILQ_CROSS_AGENT). The header-only
# ones (nlohmann/json, cppzmq, zmq.h, CLI11 for the mains) are the host's, seen through a private folder of links to
# just those headers: adding /usr/include itself would shadow the cross glibc headers. libzmq is
# Debian's libzmq5:arm64 (scripts/setup.sh installs it; the same 4.3.4 as the host's zmq.h), found
# at run time through an rpath, also under qemu-aarch64 -L /usr/aarch64-linux-gnu.
# Sets HILQ_CROSS_AGENT_READY when everything is there; a missing piece is a warning, so the
# kernels-only cross build still works.
set(HILQ_CROSS_AGENT_READY OFF)
set(_arm64_libdir /usr/lib/aarch64-linux-gnu)
set(_zmq ${_arm64_libdir}/libzmq.so.5)
foreach(_h zmq.h zmq.hpp nlohmann/json.hpp CLI/CLI.hpp)
  if(NOT EXISTS /usr/include/${_h})
    message(WARNING "hil-agent for aarch64 not built: /usr/include/${_h} is missing (run scripts/setup.sh)")
    return()
  endif()
endforeach()
if(NOT EXISTS ${_zmq})
  message(WARNING "hil-agent for aarch64 not built: ${_zmq} is missing (scripts/setup.sh installs libzmq5:arm64)")
  return()
endif()
set(_inc ${CMAKE_BINARY_DIR}/cross-include)
file(MAKE_DIRECTORY ${_inc})
foreach(_h zmq.h zmq.hpp zmq_addon.hpp nlohmann CLI)
  if(EXISTS /usr/include/${_h} AND NOT EXISTS ${_inc}/${_h})
    file(CREATE_LINK /usr/include/${_h} ${_inc}/${_h} SYMBOLIC)
  endif()
endforeach()
add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
target_include_directories(nlohmann_json::nlohmann_json SYSTEM INTERFACE ${_inc})
add_library(CLI11::CLI11 INTERFACE IMPORTED)
target_include_directories(CLI11::CLI11 SYSTEM INTERFACE ${_inc})
add_library(cppzmq INTERFACE IMPORTED)
target_include_directories(cppzmq SYSTEM INTERFACE ${_inc})
target_link_libraries(cppzmq INTERFACE ${_zmq} "-Wl,-rpath-link,${_arm64_libdir}"
                      "-Wl,-rpath,${_arm64_libdir}")
set(HILQ_CROSS_AGENT_READY ON)
