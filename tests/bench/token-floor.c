/* The floor of `pixy token`'s wall time: the least a client can do. It connects to the daemon's
 * socket, sends the same request as `pixy token ACCOUNT`, and prints the token from the answer,
 * with nothing else (no argument parsing, no runtime, no JSON library). Built by token-wall-time.sh.
 *
 *   token-floor SOCKET ACCOUNT */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 1;
    char request[512];
    int n = snprintf(request, sizeof request, "{\"method\":\"token\",\"account\":\"%s\"}\n", argv[2]);
    if (n <= 0 || write(fd, request, (size_t)n) != n) return 1;
    static char answer[65536];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof answer - 1 && (r = read(fd, answer + got, sizeof answer - 1 - got)) > 0) {
        got += (size_t)r;
        if (memchr(answer, '\n', got)) break;
    }
    answer[got] = 0;
    char *token = strstr(answer, "\"access_token\":\"");
    if (!token) return 1;
    token += strlen("\"access_token\":\"");
    char *end = strchr(token, '"');
    if (!end) return 1;
    fwrite(token, 1, (size_t)(end - token), stdout);
    fputc('\n', stdout);
    return 0;
}
