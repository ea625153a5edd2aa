// meshtrace-tap: the Asya runtime's interpreter (launcher) or a proxy on its socket.
#include "tap/tap_app.h"

int main(int argc, char** argv) { return meshtrace::tap::TapMain(argc, argv); }
