#include "sidecar/sidecar_app.h"

int main(int argc, char** argv) { return meshtrace::sidecar::SidecarMain(argc, argv); }
