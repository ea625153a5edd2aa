// LoopbackPortFree against real sockets: a listener holds its port, a closed connection's
// TIME_WAIT does not (the demo refused to start twice in a row when it did).
#include "common/ports.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace meshtrace {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// A listener on a kernel-chosen port; returns its fd and sets `port`.
int Listen(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  sockaddr_in addr = Loopback(0);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

TEST(PortsTest, AListenerHoldsItsPortAndTimeWaitDoesNot) {
  int port = 0;
  const int listener = Listen(&port);
  EXPECT_FALSE(LoopbackPortFree(port));

  // One connection, closed by the server side first: its end on `port` stays in TIME_WAIT.
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(port);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const int served = accept(listener, nullptr, nullptr);
  ASSERT_GE(served, 0);
  close(served);
  close(listener);
  char byte;
  EXPECT_EQ(read(client, &byte, 1), 0);  // the server's FIN has arrived
  close(client);
  EXPECT_TRUE(LoopbackPortFree(port));
}

}  // namespace
}  // namespace meshtrace
