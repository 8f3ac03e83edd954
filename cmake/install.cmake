# Installs the header, both libraries, a pkg-config file and a CMake package
# (find_package(corvid) → corvid::corvid, corvid::corvid_static).
include(CMakePackageConfigHelpers)

install(FILES ${PROJECT_SOURCE_DIR}/include/corvid.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS corvid corvid_static EXPORT corvidTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT corvidTargets NAMESPACE corvid:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/corvid)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/corvidConfig.cmake.in
  ${PROJECT_BINARY_DIR}/corvidConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/corvid)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/corvidConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/corvidConfig.cmake ${PROJECT_BINARY_DIR}/corvidConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/corvid)

# The .pc file finds the prefix relative to itself, so it stays right under `--prefix`.
set(CORVID_PC_CUDA_LIBS "")
if(CORVID_HAS_CUDA)
  set(CORVID_PC_CUDA_LIBS "-L${CUDAToolkit_LIBRARY_DIR} -lcublas -lcublasLt -lcudart_static -ldl -lrt")
endif()
file(RELATIVE_PATH CORVID_PC_UP "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${PROJECT_SOURCE_DIR}/cmake/corvid.pc.in ${PROJECT_BINARY_DIR}/corvid.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/corvid.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
