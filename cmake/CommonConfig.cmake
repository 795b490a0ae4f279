# Compiler settings shared by every Switchboard target, in one INTERFACE target
# (the qBittorrent layout): link `switchboard_common` instead of repeating flags.
add_library(switchboard_common INTERFACE)

target_compile_features(switchboard_common INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)

target_compile_definitions(switchboard_common INTERFACE
    QT_NO_CAST_FROM_ASCII
    QT_NO_CAST_TO_ASCII
    QT_USE_QSTRINGBUILDER
    QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
    QT_NO_URL_CAST_FROM_STRING
    SWITCHBOARD_VERSION="${PROJECT_VERSION}")

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(switchboard_common INTERFACE -Wall -Wextra -Wpedantic)
    if(SWITCHBOARD_WERROR)
        target_compile_options(switchboard_common INTERFACE -Werror)
    endif()
endif()

# switchboard_require_pkg(PREFIX MODULE HINT...): pkg_check_modules(PREFIX IMPORTED_TARGET
# MODULE), or stop saying MODULE is missing and HINT (the Debian package to install, the
# option that does without it). A macro, so PREFIX_* (e.g. _VERSION) reach the caller.
macro(switchboard_require_pkg prefix module)
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(${prefix} IMPORTED_TARGET ${module})
    if(NOT ${prefix}_FOUND)
        string(CONCAT _switchboard_hint ${ARGN})
        message(FATAL_ERROR "${module} not found: ${_switchboard_hint}")
    endif()
endmacro()
