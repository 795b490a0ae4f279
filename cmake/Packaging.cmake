# What `cmake --install` puts where, and the Debian package CPack makes of it.
#
# Installs, under the usual (GNUInstallDirs) places: bin/switchboard (app/CMakeLists.txt),
# the desktop entry, the icon (SVG and the PNG sizes desktops look up), the man page
# made by help2man from --help, the systemd unit, and the example configuration in
# /etc/switchboard (an absolute /etc when the prefix is /usr, as Debian does).
# `./dev package` configures with -DCMAKE_INSTALL_PREFIX=/usr and runs cpack.
include(GNUInstallDirs)

set(_pkg "${PROJECT_SOURCE_DIR}/packaging")

# qt_standard_project_setup() gives installed binaries an $ORIGIN-relative RPATH, for
# a Qt shipped beside them. Installed, switchboard uses the system's Qt in the linker's
# default path, and Debian forbids such an RPATH (lintian custom-library-search-path).
set_target_properties(switchboard PROPERTIES INSTALL_RPATH "")
# Debian links its binaries with full RELRO (dpkg-buildflags' hardening): the
# relocations are resolved at start and the GOT is made read-only.
target_link_options(switchboard PRIVATE "LINKER:-z,relro,-z,now")

# Desktop entry and icons ------------------------------------------------------------
install(FILES "${_pkg}/switchboard.desktop" DESTINATION "${CMAKE_INSTALL_DATADIR}/applications")
install(FILES "${_pkg}/icons/switchboard.svg"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps")
# Rendered from the SVG by packaging/icons/render-icons.sh (keep the sizes in step).
set(SWITCHBOARD_ICON_SIZES 16 22 24 32 48 64 128 256)
foreach(size IN LISTS SWITCHBOARD_ICON_SIZES)
    install(FILES "${_pkg}/icons/${size}x${size}/switchboard.png"
            DESTINATION "${CMAKE_INSTALL_DATADIR}/icons/hicolor/${size}x${size}/apps")
endforeach()

# systemd unit -----------------------------------------------------------------------
# For the /usr prefix, the directory this system's systemd says (systemd.pc:
# /lib/systemd/system on Debian 12, whose /lib is /usr/lib; Debian 13 moves it to
# /usr/lib); otherwise PREFIX/lib/systemd/system, which systemd also reads for
# /usr/local. Worked out at each configure, not cached, so that ./dev package's
# -DCMAKE_INSTALL_PREFIX=/usr on a build directory made for /usr/local takes effect;
# -DSWITCHBOARD_SYSTEMD_UNIT_DIR=DIR chooses another.
if(NOT DEFINED SWITCHBOARD_SYSTEMD_UNIT_DIR)
    set(SWITCHBOARD_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
    if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
        find_package(PkgConfig QUIET)
        if(PkgConfig_FOUND)
            pkg_get_variable(_systemd_unitdir systemd systemdsystemunitdir)
            if(_systemd_unitdir)
                set(SWITCHBOARD_SYSTEMD_UNIT_DIR "${_systemd_unitdir}")
            endif()
        endif()
    endif()
endif()

# Example configuration --------------------------------------------------------------
# GNUInstallDirs gives /etc for the /usr prefix (PREFIX/etc otherwise). In the .deb it
# is a conffile: dpkg keeps the administrator's changes on upgrades.
set(SWITCHBOARD_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/switchboard")
install(FILES "${_pkg}/switchboard.conf" DESTINATION "${SWITCHBOARD_CONFIG_DIR}")

# The unit names the installed binary and configuration (/usr/bin, /etc for /usr).
set(SWITCHBOARD_BINARY "${CMAKE_INSTALL_FULL_BINDIR}/switchboard")
configure_file("${_pkg}/switchboard.service.in" "${PROJECT_BINARY_DIR}/packaging/switchboard.service"
               @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/packaging/switchboard.service"
        DESTINATION "${SWITCHBOARD_SYSTEMD_UNIT_DIR}")

# Man page ---------------------------------------------------------------------------
# Made at build time from the binary's own --help and --version, so it cannot drift
# from them; packaging/switchboard.h2m.in adds what --help does not say, with the
# installed paths filled in.
find_program(SWITCHBOARD_HELP2MAN help2man)
if(NOT SWITCHBOARD_HELP2MAN)
    message(FATAL_ERROR "help2man not found (it makes the man page from switchboard --help): "
                        "install Debian's help2man (./dev run and ./dev test install it).")
endif()
set(SWITCHBOARD_MAN_PAGE "${PROJECT_BINARY_DIR}/man/switchboard.1")
configure_file("${_pkg}/switchboard.h2m.in" "${PROJECT_BINARY_DIR}/packaging/switchboard.h2m" @ONLY)
add_custom_command(OUTPUT "${SWITCHBOARD_MAN_PAGE}"
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${PROJECT_BINARY_DIR}/man"
    # --help needs no display; offscreen only in case a future Qt asks for one.
    COMMAND "${CMAKE_COMMAND}" -E env QT_QPA_PLATFORM=offscreen
            "${SWITCHBOARD_HELP2MAN}" --no-info --include "${PROJECT_BINARY_DIR}/packaging/switchboard.h2m"
            --output "${SWITCHBOARD_MAN_PAGE}" "$<TARGET_FILE:switchboard>"
    DEPENDS switchboard "${PROJECT_BINARY_DIR}/packaging/switchboard.h2m"
    COMMENT "Generating the man page switchboard.1 with help2man"
    VERBATIM)
add_custom_target(switchboard_man ALL DEPENDS "${SWITCHBOARD_MAN_PAGE}")
install(FILES "${SWITCHBOARD_MAN_PAGE}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")

# Debian's copyright file (machine-readable format); a plain install gets it too.
install(FILES "${_pkg}/copyright" DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/switchboard")

# The .deb ---------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME switchboard)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "Switchboard maintainers")
set(SWITCHBOARD_MAINTAINER
    "Switchboard maintainers <maintainers@users.noreply.r-seed-d746a682.example>"
    CACHE STRING "The .deb's Maintainer field")
set(CPACK_PACKAGE_CONTACT "${SWITCHBOARD_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "one-port HTTP and WebSocket server with an operator console")
# The long description (the summary above is its first line). One string: CMake
# would split a list at the semicolon.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION [[
Switchboard serves HTTP routes and WebSocket sessions on one TCP port: a
health route, token-protected admin routes to list, message and close
sessions, echo and chat WebSocket endpoints with permessage-deflate, and a
browser test client. Several instances can share their sessions through
Redis.

Started from the desktop it opens a Qt operator console to watch who is
connected and talk to them; headless it runs as a sandboxed systemd
service configured in /etc/switchboard.]])
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# No public home page yet: the field is left out until this is set.
set(SWITCHBOARD_HOMEPAGE "" CACHE STRING "The .deb's Homepage field (a URL)")
if(SWITCHBOARD_HOMEPAGE)
    set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${SWITCHBOARD_HOMEPAGE}")
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # switchboard_0.1.0_amd64.deb
# The libraries the binary links, with versions, from dpkg-shlibdeps (dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Not linked, so shlibdeps cannot see them:
# - procps: /bin/kill, which the unit's ExecReload runs (not Essential in Debian).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
# - Qt's plugins. The console's X11 plugin (libqxcb.so) is in libqt6gui6 itself on
#   Debian 12 and 13, which shlibdeps lists; qt6-qpa-plugins only holds vnc and tuio
#   (and libqt6gui6 already Recommends it), so it is not named here. On a Wayland
#   desktop Qt uses qt6-wayland's plugin when installed, else X11 through XWayland
#   (app/platform/display_unix.cpp checks for it); libqt6svg6 is the SVG icon engine,
#   for SVG icon themes (the Save log... file dialog). Recommends, not Depends: the
#   console works without either, and the server itself (--no-gui, the systemd
#   service) needs none of them or the graphics libraries they pull in, so a headless
#   host can leave them out with --no-install-recommends; apt installs Recommends by
#   default, so a desktop gets them.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "qt6-wayland, libqt6svg6")
# The .deb holds a stripped binary (the build is RelWithDebInfo): stripped in
# packaging/deb-stage.cmake as Debian's dh_strip does, not with CPACK_STRIP_FILES,
# which would leave the .comment and .note sections in.
# dpkg keeps an edited /etc/switchboard/switchboard.conf on upgrade and removal.
file(WRITE "${PROJECT_BINARY_DIR}/packaging/conffiles"
     "${SWITCHBOARD_CONFIG_DIR}/switchboard.conf\n")
# Maintainer scripts: systemd reloads units on install and removal, restarts a
# running service on upgrade and stops it on removal; nothing is enabled.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${PROJECT_BINARY_DIR}/packaging/conffiles"
    "${_pkg}/postinst" "${_pkg}/prerm" "${_pkg}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Debian's layout in the staged tree before it is packed: stripped binary,
# compressed man page and changelog (packaging/deb-stage.cmake).
set(CPACK_PRE_BUILD_SCRIPTS "${_pkg}/deb-stage.cmake")
set(SWITCHBOARD_CHANGELOG "${_pkg}/changelog")
set(CPACK_PROJECT_CONFIG_FILE "${PROJECT_BINARY_DIR}/packaging/CPackProjectConfig.cmake")
file(WRITE "${CPACK_PROJECT_CONFIG_FILE}"
     "set(SWITCHBOARD_CHANGELOG \"${SWITCHBOARD_CHANGELOG}\")\n"
     "set(SWITCHBOARD_STRIP \"${CMAKE_STRIP}\")\n")
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    message(STATUS "Packaging: the prefix is ${CMAKE_INSTALL_PREFIX}; a .deb wants "
                   "-DCMAKE_INSTALL_PREFIX=/usr (./dev package sets it)")
endif()
include(CPack)
