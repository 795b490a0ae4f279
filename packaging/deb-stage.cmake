# Run by cpack (CPACK_PRE_BUILD_SCRIPTS) on the staged tree, before it is packed:
# what Debian's layout asks of a .deb and a plain `cmake --install` does not need.
set(root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
set(prefix "${root}${CPACK_PACKAGING_INSTALL_PREFIX}")

# The binary without debugging symbols, with dh_strip's options.
execute_process(COMMAND "${SWITCHBOARD_STRIP}" --remove-section=.comment --remove-section=.note
                        --strip-unneeded "${prefix}/bin/switchboard"
                COMMAND_ERROR_IS_FATAL ANY)

# Compressed man pages and changelog (gzip -n: no name or time stamp, so the same
# tree gives the same bytes).
file(GLOB_RECURSE man_pages "${prefix}/share/man/man*/*.[1-9]")
set(doc_dir "${prefix}/share/doc/switchboard")
file(MAKE_DIRECTORY "${doc_dir}")
file(COPY_FILE "${SWITCHBOARD_CHANGELOG}" "${doc_dir}/changelog")
foreach(file IN LISTS man_pages ITEMS "${doc_dir}/changelog")
    execute_process(COMMAND gzip -9nf "${file}" COMMAND_ERROR_IS_FATAL ANY)
endforeach()
