#!/usr/bin/env bash
# Builds a static OpenCV (core, imgproc, imgcodecs, videoio; its own libpng,
# libjpeg-turbo and zlib; no FFmpeg, GDAL, TBB, IPP or BLAS) into
# build-app/opencv/install, once, for tests/gpu/build.sh's application
# build: the lent GPU machines have no OpenCV, and faceswap linked against
# Debian's shared OpenCV and dlib needs 340 MB of libraries besides CUDA's
# (measured with ldd here). The source is the OpenCV tree inside PyPI's
# opencv-python-headless source package (pip can reach PyPI here).
# About 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=4.10.0.84
root=build-app/opencv
if [ -f "$root/install/lib/cmake/opencv4/OpenCVConfig.cmake" ]; then exit 0; fi
mkdir -p "$root"
archive="$root/opencv-python-headless-$version.tar.gz"
if [ ! -f "$archive" ]; then
  # From PyPI's simple index, checked against the hash it gives (pip download would also build the package's metadata).
  python3 - "$version" "$archive.part" <<'PY'
import hashlib, re, sys, urllib.request
version, into = sys.argv[1], sys.argv[2]
index = urllib.request.urlopen("https://pypi.org/simple/opencv-python-headless/").read().decode()
url, sha256 = next((u, h) for u, h in re.findall(r'href="([^"#]+)#sha256=([0-9a-f]+)"', index) if u.endswith(f"-{version}.tar.gz"))
urllib.request.urlretrieve(url, into)
if hashlib.sha256(open(into, "rb").read()).hexdigest() != sha256:
    sys.exit(f"opencv.sh: {url} does not match the index's sha256")
PY
  mv "$archive.part" "$archive"
fi
source_dir="$root/opencv-python-headless-$version/opencv"
[ -f "$source_dir/CMakeLists.txt" ] || tar -xzf "$archive" -C "$root" "opencv-python-headless-$version/opencv"
off="IPP TBB OPENMP FFMPEG GSTREAMER V4L GTK QT TIFF WEBP OPENEXR JASPER OPENJPEG AVIF IMGCODEC_HDR IMGCODEC_SUNRASTER IMGCODEC_PFM
     LAPACK EIGEN OPENCL CUDA VA GDAL GDCM 1394 OBSENSOR ITT PROTOBUF KLEIDICV FLATBUFFERS"
flags=()
for feature in $off; do flags+=("-DWITH_$feature=OFF"); done
cmake -S "$source_dir" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PWD/$root/install" \
  -DBUILD_LIST=core,imgproc,imgcodecs,videoio -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DWITH_PTHREADS_PF=ON \
  -DBUILD_ZLIB=ON -DBUILD_PNG=ON -DBUILD_JPEG=ON "${flags[@]}" \
  -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF -DBUILD_JAVA=OFF \
  -DBUILD_opencv_python3=OFF -DOPENCV_GENERATE_PKGCONFIG=OFF -DBUILD_DOCS=OFF > "$root/configure.log"
cmake --build "$root/build" -j2 --target install > "$root/build.log"
echo "opencv.sh: static OpenCV $version in $root/install"
