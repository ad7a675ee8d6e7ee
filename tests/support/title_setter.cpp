// Writes over its own environment, as daemons that set their process title
// do (nginx, PostgreSQL): /proc/PID/environ then reads as NULs. Then waits
// to be stopped.

#include <unistd.h>

#include <cstring>

extern char** environ;

int main() {
  if (environ != nullptr && environ[0] != nullptr) {
    char* end = environ[0];
    for (char** e = environ; *e != nullptr; ++e) end = *e + std::strlen(*e) + 1;
    std::memset(environ[0], 0, static_cast<size_t>(end - environ[0]));
  }
  for (;;) ::pause();
}
