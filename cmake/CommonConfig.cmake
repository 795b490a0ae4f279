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
