// switchboard-loadgen: the load generator behind bench/run.py.
//
// Plain C++20 on one epoll loop with non-blocking sockets, its own minimal RFC 6455
// client framing and an HTTP/1.1 keep-alive client, so that it costs far less per
// message than the servers it measures. Every byte that comes back is checked: echoes
// against what this connection sent (in order), broadcasts against the body that was
// POSTed, the greeting against "start"; on /ws/channels (publish) each JSON message is
// recognised by a substring search, not parsed. One JSON line per run goes to stdout.
//
// Modes (see --help): idle, echo, broadcast, publish, http. --deflate adds the client side of
// permessage-deflate (RFC 7692, zlib); without it no compression code runs.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <csignal>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

int64_t nowNs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr int64_t secondsToNs(double s)
{
    return int64_t(s * 1e9);
}

// ---------------------------------------------------------------------------------------
// Options

struct Options
{
    std::string mode;
    std::string host = "127.0.0.1";
    int port = 0;
    int port2 = 0; // broadcast, publish: every second client on this server (cluster runs)
    int pid2 = 0;
    std::string path; // empty: /ws, or /ws/channels for publish
    int connections = -1; // -1: the mode's default
    int inflight = 1;
    size_t size = 32;
    bool binary = false;
    double duration = 5.0;
    double warmup = 1.0;
    int count = 50; // broadcasts measured
    int warmupCount = 3; // broadcasts not measured
    double gapMs = 10.0;
    double timeLimit = 0; // broadcast: stop starting new ones after this many seconds (0: none)
    double hold = 5.0;
    double settle = 1.0;
    int pid = 0;
    std::string token;
    int sources = 4;
    int connectConcurrency = 32;
    double connectTimeout = 120.0;
    std::string label;
    bool json = false; // text payloads are JSON dashboard updates from --seed
    uint64_t seed = 1;
    bool deflate = false; // offer permessage-deflate; compress and inflate messages
    int deflateLevel = 1;
    bool echoOnce = false; // idle: every connection echoes one message before the hold
    bool stopServer = false; // idle: SIGTERM --pid after the hold, connections still open
    int subscribers = 1000; // publish: clients that join --topic
    std::string topic = "bench";
};

void printUsage(FILE *out)
{
    std::fputs(
            "usage: switchboard-loadgen MODE --port PORT [options]\n"
            "\n"
            "Modes:\n"
            "  idle       open --connections N WebSockets (default 5000), hold them --hold s,\n"
            "             answer pings; report how many are held and the server RSS (--pid)\n"
            "  echo       --connections C (default 1) x --inflight K messages of --size S bytes\n"
            "             (--binary for binary frames) for --duration s; msg/s, MiB/s, p50/p99\n"
            "  broadcast  --connections N clients (default 1000); --count M POST /api/broadcast\n"
            "             of 64 B (--token); time from the POST until the last client has it\n"
            "  publish    --connections N clients (default 10000) on /ws/channels (subprotocol\n"
            "             switchboard.v1), --subscribers K of them (default 1000) join --topic;\n"
            "             --count M POST /api/topics/TOPIC/publish of 64 B (--token); time from\n"
            "             the POST until the last subscriber has it; server RSS per subscription;\n"
            "             the answer is 200 with the offset and delivered count or, from a\n"
            "             cluster, 202 {\"accepted\":true} (the messages' offsets are checked\n"
            "             against the join replies' either way)\n"
            "  http       --connections C (default 50) keep-alive GET /api/health for --duration "
            "s\n"
            "\n"
            "Options:\n"
            "  --host A             server address (default 127.0.0.1)\n"
            "  --port P             server port (required)\n"
            "  --path P             WebSocket path (default /ws; publish: /ws/channels)\n"
            "  --subscribers K      publish: clients that join the topic, spread evenly over\n"
            "                       the connections (default 1000)\n"
            "  --topic NAME         publish: the topic (default bench)\n"
            "  --warmup S           seconds before measuring, echo/http (default 1)\n"
            "  --warmup-count N     broadcasts (publishes) before measuring (default 3)\n"
            "  --gap-ms MS          pause between broadcasts (publishes) (default 10)\n"
            "  --time-limit S       broadcast, publish: start no new one after S seconds, once "
            "3 were\n"
            "                       measured (default: no limit)\n"
            "  --settle S           idle: seconds between the last connect and the RSS sample "
            "(default 1);\n"
            "                       publish: before each of the two RSS samples\n"
            "  --pid PID            server process, for RSS and CPU figures from /proc\n"
            "  --port2 P            broadcast, publish: every second client connects to this\n"
            "                       port (a second cluster instance; publish: half the\n"
            "                       subscribers too); the POST still goes to --port; adds\n"
            "                       when the last client of each instance had the message\n"
            "  --pid2 PID           the --port2 server process, for its CPU figure; publish:\n"
            "                       the RSS figures are then the sum of both servers'\n"
            "  --sources N          spread connections over 127.0.0.1..N as source addresses "
            "(default 4)\n"
            "  --connect-concurrency N  handshakes in progress at once (default 32)\n"
            "  --connect-timeout S  give up opening connections after S seconds (default 120)\n"
            "  --label TEXT         copied into the JSON line\n"
            "  --json               echo: text payloads are JSON dashboard updates of --size\n"
            "                       bytes (a pool of 256, different numbers in each, from "
            "--seed)\n"
            "  --seed N             seed of the --json pool (default 1)\n"
            "  --deflate            offer permessage-deflate (RFC 7692); fail unless the "
            "server\n"
            "                       accepts; compress what is sent, inflate what comes back\n"
            "  --deflate-level N    zlib level of what is sent (default 1)\n"
            "  --echo-once          idle: every connection echoes one message (--size, "
            "--json,\n"
            "                       --deflate) once all are open, before the RSS samples\n"
            "  --stop-server        idle: after the hold, SIGTERM --pid with every connection\n"
            "                       open; report the time until it exited and the close "
            "codes\n",
            out);
}

std::optional<Options> parseOptions(int argc, char **argv)
{
    Options o;
    std::vector<std::string> args(argv + 1, argv + argc);
    auto fail = [](const std::string &message) -> std::optional<Options> {
        std::fprintf(stderr, "switchboard-loadgen: %s (see --help)\n", message.c_str());
        return std::nullopt;
    };
    for (size_t i = 0; i < args.size(); ++i) {
        std::string key = args[i];
        std::string value;
        bool hasValue = false;
        if (key == "-h" || key == "--help") {
            printUsage(stdout);
            std::exit(0);
        }
        if (key.rfind("--", 0) != 0) {
            if (!o.mode.empty())
                return fail("unexpected argument '" + key + "'");
            o.mode = key;
            continue;
        }
        if (const auto eq = key.find('='); eq != std::string::npos) {
            value = key.substr(eq + 1);
            key.resize(eq);
            hasValue = true;
        }
        if (key == "--binary") {
            o.binary = true;
            continue;
        }
        bool *flag = key == "--json"     ? &o.json
                : key == "--deflate"     ? &o.deflate
                : key == "--echo-once"   ? &o.echoOnce
                : key == "--stop-server" ? &o.stopServer
                                         : nullptr;
        if (flag) {
            *flag = true;
            continue;
        }
        if (!hasValue) {
            if (i + 1 >= args.size())
                return fail("option " + key + " needs a value");
            value = args[++i];
        }
        char *end = nullptr;
        errno = 0;
        const double number = std::strtod(value.c_str(), &end);
        const bool numeric = end && *end == '\0' && !value.empty() && errno == 0 && number >= 0;
        auto needNumber = [&]() {
            if (!numeric)
                std::fprintf(stderr, "switchboard-loadgen: %s needs a non-negative number\n",
                             key.c_str());
            return numeric;
        };
        if (key == "--mode") {
            o.mode = value;
        } else if (key == "--host") {
            o.host = value;
        } else if (key == "--path") {
            o.path = value;
        } else if (key == "--token") {
            o.token = value;
        } else if (key == "--label") {
            o.label = value;
        } else if (key == "--topic") {
            o.topic = value;
        } else if (!needNumber()) {
            return std::nullopt;
        } else if (key == "--port") {
            o.port = int(number);
        } else if (key == "--port2") {
            o.port2 = int(number);
        } else if (key == "--pid2") {
            o.pid2 = int(number);
        } else if (key == "--connections") {
            o.connections = int(number);
        } else if (key == "--subscribers") {
            o.subscribers = int(number);
        } else if (key == "--inflight") {
            o.inflight = std::max(1, int(number));
        } else if (key == "--size") {
            o.size = size_t(number);
        } else if (key == "--duration") {
            o.duration = number;
        } else if (key == "--warmup") {
            o.warmup = number;
        } else if (key == "--count") {
            o.count = std::max(1, int(number));
        } else if (key == "--warmup-count") {
            o.warmupCount = int(number);
        } else if (key == "--gap-ms") {
            o.gapMs = number;
        } else if (key == "--time-limit") {
            o.timeLimit = number;
        } else if (key == "--hold") {
            o.hold = number;
        } else if (key == "--settle") {
            o.settle = number;
        } else if (key == "--pid") {
            o.pid = int(number);
        } else if (key == "--sources") {
            o.sources = std::clamp(int(number), 1, 250);
        } else if (key == "--connect-concurrency") {
            o.connectConcurrency = std::max(1, int(number));
        } else if (key == "--connect-timeout") {
            o.connectTimeout = number;
        } else if (key == "--seed") {
            o.seed = uint64_t(number);
        } else if (key == "--deflate-level") {
            o.deflateLevel = std::clamp(int(number), 0, 9);
        } else {
            return fail("unknown option " + key);
        }
    }
    if (o.mode != "idle" && o.mode != "echo" && o.mode != "broadcast" && o.mode != "publish"
        && o.mode != "http")
        return fail("MODE must be idle, echo, broadcast, publish or http");
    if (o.port <= 0 || o.port > 65535)
        return fail("--port is required");
    if (o.port2 < 0 || o.port2 > 65535
        || (o.port2 != 0 && o.mode != "broadcast" && o.mode != "publish"))
        return fail("--port2 takes a port, and only in broadcast and publish modes");
    if (o.connections < 0)
        o.connections = o.mode == "idle" ? 5000
                : o.mode == "broadcast"  ? 1000
                : o.mode == "publish"    ? 10000
                : o.mode == "http"       ? 50
                                         : 1;
    if (o.connections < 1)
        return fail("--connections must be at least 1");
    if (o.path.empty())
        o.path = o.mode == "publish" ? "/ws/channels" : "/ws";
    if ((o.mode == "broadcast" || o.mode == "publish") && o.token.empty())
        return fail(o.mode + " needs --token");
    if (o.mode == "publish") {
        if (o.subscribers < 1 || o.subscribers > o.connections)
            return fail("--subscribers must be 1 to --connections");
        // The server's rule for topic names; it also keeps the name safe to put unescaped
        // in the URL and the JSON.
        const bool valid = !o.topic.empty() && o.topic.size() <= 128
                && std::all_of(o.topic.begin(), o.topic.end(), [](char ch) {
                       return std::isalnum(uint8_t(ch)) || std::strchr("_-.:@", ch);
                   });
        if (!valid)
            return fail("--topic takes 1 to 128 letters, digits, '_', '-', '.', ':' or '@'");
        if (o.deflate)
            return fail("--deflate is not for publish mode");
        // Otherwise one server would have no subscriber whose arrival could be timed.
        if (o.port2 != 0 && o.subscribers < 2)
            return fail("--port2 needs --subscribers of at least 2, one on each server");
    }
    if (o.json && o.binary)
        return fail("--json payloads are text; drop --binary");
    if (o.json && o.size < 256)
        return fail("--json needs --size of at least 256");
    if (o.deflate && o.mode == "http")
        return fail("--deflate is for WebSocket modes");
    if ((o.echoOnce || o.stopServer) && o.mode != "idle")
        return fail("--echo-once and --stop-server are for idle mode");
    if (o.stopServer && o.pid <= 0)
        return fail("--stop-server needs --pid");
    return o;
}

// ---------------------------------------------------------------------------------------
// Small helpers: SHA-1 and base64 for the handshake, a PRNG, a latency histogram, /proc.

std::array<uint8_t, 20> sha1(std::string_view data)
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    std::string msg(data);
    const uint64_t bits = uint64_t(data.size()) * 8;
    msg.push_back(char(0x80));
    while (msg.size() % 64 != 56)
        msg.push_back('\0');
    for (int i = 7; i >= 0; --i)
        msg.push_back(char((bits >> (i * 8)) & 0xff));
    for (size_t chunk = 0; chunk < msg.size(); chunk += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; ++i) {
            const auto *p = reinterpret_cast<const uint8_t *>(msg.data() + chunk + size_t(i) * 4);
            w[i] = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
        }
        for (int i = 16; i < 80; ++i)
            w[i] = std::rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; ++i) {
            uint32_t f, k;
            if (i < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999;
            } else if (i < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1;
            } else if (i < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDC;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6;
            }
            const uint32_t t = std::rotl(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = std::rotl(b, 30);
            b = a;
            a = t;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
    std::array<uint8_t, 20> out{};
    for (int i = 0; i < 20; ++i)
        out[size_t(i)] = uint8_t(h[i / 4] >> (24 - 8 * (i % 4)));
    return out;
}

std::string base64(const uint8_t *data, size_t size)
{
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < size; i += 3) {
        const uint32_t n = uint32_t(data[i]) << 16 | (i + 1 < size ? uint32_t(data[i + 1]) << 8 : 0)
                | (i + 2 < size ? data[i + 2] : 0);
        out.push_back(table[(n >> 18) & 63]);
        out.push_back(table[(n >> 12) & 63]);
        out.push_back(i + 1 < size ? table[(n >> 6) & 63] : '=');
        out.push_back(i + 2 < size ? table[n & 63] : '=');
    }
    return out;
}

class Random
{
public:
    explicit Random(uint64_t seed) : m_state(seed | 1) { }
    uint64_t next()
    {
        m_state ^= m_state >> 12;
        m_state ^= m_state << 25;
        m_state ^= m_state >> 27;
        return m_state * 0x2545F4914F6CDD1DULL;
    }

private:
    uint64_t m_state;
};

// --json: what a live dashboard pushes, one update per message: {"seq":"<tag>", ...,
// "rows":[{"id":..,"sensor":..,"value":..,"unit":..,"avg":..,"status":..}, ...]} with
// about 45 rows, exactly `size` bytes (a "trace" string of hex digits takes up the rest).
// The rows name the same sensors in every message while the numbers, the time stamp
// and the trace differ, so compression sees structure repeat, not identical messages.
// The 8 bytes after {"seq":" are the placeholder for the tag each echo carries.
constexpr size_t JsonTagAt = 8;

std::vector<std::string> makeJsonMessages(uint64_t seed, size_t size, size_t count)
{
    struct Kind
    {
        const char *name;
        const char *unit;
        double typical;
    };
    static constexpr Kind kinds[] = {
            {"temp", "C", 21.0},      {"humidity", "%", 45.0}, {"pressure", "kPa", 101.3},
            {"flow", "l/min", 12.5},  {"voltage", "V", 230.0}, {"current", "A", 4.2},
            {"speed", "rpm", 1480.0}, {"level", "%", 63.0},    {"vibration", "mm/s", 2.1},
    };
    constexpr size_t kindCount = sizeof kinds / sizeof kinds[0];
    Random random(seed);
    std::vector<std::string> messages;
    for (size_t k = 0; k < count; ++k) {
        std::string m = "{\"seq\":\"0000000.\",\"type\":\"dashboard.update\","
                        "\"panel\":\"plant-3/line-7\",\"ts\":"
                + std::to_string(1718000000000LL + int64_t(k) * 250) + ",\"rows\":[";
        constexpr size_t tail = 14; // ],"trace":"x"} at the least
        char row[192];
        for (size_t r = 0;; ++r) {
            const Kind &kind = kinds[r % kindCount];
            const double base = kind.typical * (1.0 + 0.02 * double(r / kindCount));
            const double value
                    = base * (1.0 + (double(random.next() % 20001) - 10000.0) / 200000.0);
            const double avg = value * (1.0 + (double(random.next() % 601) - 300.0) / 10000.0);
            const char *status = random.next() % 16 == 0 ? "warn" : "ok";
            const int n = std::snprintf(
                    row, sizeof row,
                    "%s{\"id\":%zu,\"sensor\":\"%s-%02zu\",\"value\":%.3f,\"unit\":\"%s\","
                    "\"avg\":%.2f,\"status\":\"%s\"}",
                    r ? "," : "", 1001 + r, kind.name, r / kindCount + 1, value, kind.unit, avg,
                    status);
            if (m.size() + size_t(n) + tail > size)
                break;
            m += row;
        }
        m += "],\"trace\":\"";
        while (m.size() < size - 2)
            m.push_back("0123456789abcdef"[random.next() % 16]);
        m += "\"}";
        messages.push_back(std::move(m));
    }
    return messages;
}

// Log-linear buckets (128 per power of two: under 1 % error), so that millions of
// samples cost no memory and no sort.
class Histogram
{
public:
    void add(int64_t ns)
    {
        const uint64_t v = uint64_t(std::max<int64_t>(ns, 0));
        ++m_buckets[index(v)];
        ++m_count;
        m_sum += double(v);
        m_max = std::max(m_max, v);
    }
    uint64_t count() const { return m_count; }
    double meanUs() const { return m_count ? m_sum / double(m_count) / 1e3 : 0.0; }
    double maxUs() const { return double(m_max) / 1e3; }
    double percentileUs(double p) const
    {
        if (m_count == 0)
            return 0.0;
        const auto rank = uint64_t(std::max(1.0, std::ceil(p / 100.0 * double(m_count))));
        uint64_t seen = 0;
        for (size_t i = 0; i < m_buckets.size(); ++i) {
            seen += m_buckets[i];
            if (seen >= rank)
                return std::min(midpoint(i), double(m_max)) / 1e3;
        }
        return double(m_max) / 1e3;
    }

private:
    static constexpr int SubBits = 7;
    static size_t index(uint64_t v)
    {
        const int shift = std::max(0, int(std::bit_width(v)) - 1 - SubBits);
        return size_t(shift) * (size_t(1) << SubBits) + size_t(v >> shift);
    }
    static double midpoint(size_t i)
    {
        constexpr size_t sub = size_t(1) << SubBits;
        if (i < 2 * sub)
            return double(i);
        const size_t shift = i / sub - 1;
        const size_t mantissa = i - shift * sub;
        return double(mantissa << shift) + double((size_t(1) << shift) - 1) / 2.0;
    }
    std::vector<uint64_t> m_buckets = std::vector<uint64_t>((64 - SubBits + 1) << SubBits);
    uint64_t m_count = 0;
    double m_sum = 0;
    uint64_t m_max = 0;
};

// VmRSS of a process in KiB, or -1.
long readRssKib(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = std::fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    long rss = -1;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "VmRSS:", 6) == 0) {
            rss = std::strtol(line + 6, nullptr, 10);
            break;
        }
    }
    std::fclose(f);
    return rss;
}

// utime + stime of a process in seconds, or -1.
double readCpuSeconds(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = std::fopen(path, "re");
    if (!f)
        return -1;
    char buffer[1024];
    const size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
    std::fclose(f);
    buffer[n] = '\0';
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    const char *p = std::strrchr(buffer, ')');
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime)
        != 2)
        return -1;
    return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

double selfCpuSeconds()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

bool raiseFileLimit(rlim_t wanted)
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return false;
    if (limit.rlim_cur >= wanted)
        return true;
    if (limit.rlim_max < wanted)
        limit.rlim_max = wanted; // works as root (CAP_SYS_RESOURCE), fails otherwise
    limit.rlim_cur = wanted;
    if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
        return true;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    return false;
}

// One JSON object, built field by field.
class JsonLine
{
public:
    JsonLine &add(const char *key, const std::string &value)
    {
        std::string escaped;
        for (const char ch : value) {
            if (ch == '"' || ch == '\\') {
                escaped.push_back('\\');
                escaped.push_back(ch);
            } else if (uint8_t(ch) < 0x20) {
                char hex[8];
                std::snprintf(hex, sizeof hex, "\\u%04x", unsigned(uint8_t(ch)));
                escaped += hex;
            } else {
                escaped.push_back(ch);
            }
        }
        return raw(key, "\"" + escaped + "\"");
    }
    JsonLine &add(const char *key, const char *value) { return add(key, std::string(value)); }
    JsonLine &add(const char *key, bool value) { return raw(key, value ? "true" : "false"); }
    JsonLine &add(const char *key, long long value) { return raw(key, std::to_string(value)); }
    JsonLine &add(const char *key, int value) { return add(key, static_cast<long long>(value)); }
    JsonLine &add(const char *key, uint64_t value)
    {
        return add(key, static_cast<long long>(value));
    }
    JsonLine &add(const char *key, long value) { return add(key, static_cast<long long>(value)); }
    JsonLine &add(const char *key, double value, int decimals = 3)
    {
        if (!std::isfinite(value))
            return raw(key, "null");
        char text[64];
        std::snprintf(text, sizeof text, "%.*f", decimals, value);
        return raw(key, text);
    }
    std::string str() const { return "{" + m_body + "}"; }

private:
    JsonLine &raw(const char *key, const std::string &value)
    {
        if (!m_body.empty())
            m_body += ',';
        m_body += '"';
        m_body += key;
        m_body += "\":";
        m_body += value;
        return *this;
    }
    std::string m_body;
};

// CPU used by the load generator and the server(s) between start() and stop(), reported as
// a share of one core (a server whose /proc entry cannot be read is left out).
class CpuMeter
{
public:
    CpuMeter(int pid, int pid2) : m_pid(pid), m_pid2(pid2) { start(); }
    void start() { m_begin = sample(); }
    void stop() { m_end = sample(); }
    double selfSeconds() const { return m_end.self - m_begin.self; }
    // -1 if the server's /proc entry could not be read
    double serverSeconds() const
    {
        return m_begin.server >= 0 && m_end.server >= 0 ? m_end.server - m_begin.server : -1;
    }
    void addTo(JsonLine &json, double seconds) const
    {
        json.add("loadgen_cpu_pct", (m_end.self - m_begin.self) / seconds * 100, 1);
        if (m_begin.server >= 0 && m_end.server >= 0)
            json.add("server_cpu_pct", (m_end.server - m_begin.server) / seconds * 100, 1);
        if (m_begin.server2 >= 0 && m_end.server2 >= 0)
            json.add("server2_cpu_pct", (m_end.server2 - m_begin.server2) / seconds * 100, 1);
    }

private:
    struct Sample
    {
        double self = 0;
        double server = -1;
        double server2 = -1;
    };
    Sample sample() const
    {
        return {selfCpuSeconds(), readCpuSeconds(m_pid), readCpuSeconds(m_pid2)};
    }
    int m_pid;
    int m_pid2;
    Sample m_begin;
    Sample m_end;
};

// True once the process has exited (a zombie counts: its parent reaps it later).
bool processExited(int pid)
{
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = std::fopen(path, "re");
    if (!f)
        return true;
    char buffer[512];
    const size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
    std::fclose(f);
    buffer[n] = '\0';
    const char *p = std::strrchr(buffer, ')');
    return !p || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

// RFC 6455 masking, eight bytes a step.
void maskPayload(char *data, size_t size, const uint8_t key[4])
{
    uint64_t key8;
    for (size_t i = 0; i < 8; ++i)
        reinterpret_cast<uint8_t *>(&key8)[i] = key[i & 3];
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        std::memcpy(&word, data + i, 8);
        word ^= key8;
        std::memcpy(data + i, &word, 8);
    }
    for (; i < size; ++i)
        data[i] = char(uint8_t(data[i]) ^ key[i & 3]);
}

// ---------------------------------------------------------------------------------------
// permessage-deflate, the client side (RFC 7692)

// What the server's Sec-WebSocket-Extensions answer allows.
struct DeflateAgreement
{
    bool serverNoContextTakeover = false;
    bool clientNoContextTakeover = false;
    int serverMaxWindowBits = 15;
    int clientMaxWindowBits = 15;
};

// The answer to our offer "permessage-deflate; client_max_window_bits", judged exactly
// (RFC 7692 §7.1): one permessage-deflate element, only its four parameters, each at
// most once, the takeover ones without a value, the window ones with 8..15 (no leading
// zero; a quoted value is unquoted first). Anything else is an error, named in `why`.
std::optional<DeflateAgreement> parseDeflateAnswer(std::string_view answer, std::string &why)
{
    auto trim = [](std::string_view v) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
            v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
            v.remove_suffix(1);
        return v;
    };
    if (answer.find(',') != std::string_view::npos) {
        why = "more than one extension in the answer";
        return std::nullopt;
    }
    DeflateAgreement agreed;
    bool seen[4] = {};
    size_t start = 0;
    for (int element = 0;; ++element) {
        const size_t end = std::min(answer.find(';', start), answer.size());
        const std::string_view part = trim(answer.substr(start, end - start));
        if (element == 0) {
            if (part != "permessage-deflate") {
                why = "the answer is not permessage-deflate";
                return std::nullopt;
            }
        } else {
            const size_t eq = part.find('=');
            const std::string_view name = trim(part.substr(0, eq));
            std::optional<std::string_view> value;
            if (eq != std::string_view::npos) {
                value = trim(part.substr(eq + 1));
                if (value->size() >= 2 && value->front() == '"' && value->back() == '"')
                    value = value->substr(1, value->size() - 2);
            }
            static constexpr std::string_view names[]
                    = {"server_no_context_takeover", "client_no_context_takeover",
                       "server_max_window_bits", "client_max_window_bits"};
            const auto known = std::find(std::begin(names), std::end(names), name);
            if (known == std::end(names)) {
                why = "unknown parameter '" + std::string(name) + "'";
                return std::nullopt;
            }
            const size_t index = size_t(known - std::begin(names));
            if (seen[index]) {
                why = "parameter " + std::string(name) + " given twice";
                return std::nullopt;
            }
            seen[index] = true;
            if (index < 2) {
                if (value) {
                    why = std::string(name) + " takes no value";
                    return std::nullopt;
                }
                (index == 0 ? agreed.serverNoContextTakeover : agreed.clientNoContextTakeover)
                        = true;
            } else {
                const bool valid = value
                        && ((value->size() == 1 && (*value)[0] >= '8' && (*value)[0] <= '9')
                            || (value->size() == 2 && (*value)[0] == '1' && (*value)[1] >= '0'
                                && (*value)[1] <= '5'));
                if (!valid) {
                    why = std::string(name) + " needs a value from 8 to 15";
                    return std::nullopt;
                }
                const int bits = std::atoi(std::string(*value).c_str());
                (index == 2 ? agreed.serverMaxWindowBits : agreed.clientMaxWindowBits) = bits;
            }
        }
        if (end == answer.size())
            break;
        start = end + 1;
    }
    return agreed;
}

// One zlib stream, raw DEFLATE, ended with its owner.
class ZStream
{
public:
    static std::unique_ptr<ZStream> deflater(int level, int windowBits)
    {
        auto s = std::unique_ptr<ZStream>(new ZStream(true));
        s->m_ok = deflateInit2(&s->m_z, level, Z_DEFLATED, -windowBits, 8, Z_DEFAULT_STRATEGY)
                == Z_OK;
        return s;
    }
    static std::unique_ptr<ZStream> inflater()
    {
        auto s = std::unique_ptr<ZStream>(new ZStream(false));
        s->m_ok = inflateInit2(&s->m_z, -15) == Z_OK; // any window the server may use
        return s;
    }
    ~ZStream()
    {
        if (m_ok)
            m_deflating ? deflateEnd(&m_z) : inflateEnd(&m_z);
    }
    ZStream(const ZStream &) = delete;
    ZStream &operator=(const ZStream &) = delete;
    bool ok() const { return m_ok; }
    z_stream &z() { return m_z; }

    // Appends `in` compressed for a frame with RSV1 (sync flush, its 00 00 ff ff tail
    // removed: RFC 7692 §7.2.1). The stream keeps its window for the next message: call
    // deflateReset() first for a message on its own.
    bool compress(std::string_view in, std::string &out)
    {
        m_z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
        m_z.avail_in = uInt(in.size());
        const size_t start = out.size();
        size_t used = start;
        do {
            out.resize(used + in.size() / 2 + 64);
            m_z.next_out = reinterpret_cast<Bytef *>(out.data() + used);
            m_z.avail_out = uInt(out.size() - used);
            if (deflate(&m_z, Z_SYNC_FLUSH) != Z_OK)
                return false;
            used = out.size() - m_z.avail_out;
        } while (m_z.avail_out == 0);
        out.resize(used);
        static constexpr char tail[4] = {'\0', '\0', '\xff', '\xff'};
        if (used - start < 4 || std::memcmp(out.data() + used - 4, tail, 4) != 0)
            return false;
        out.resize(used - 4);
        return true;
    }

private:
    explicit ZStream(bool deflating) : m_deflating(deflating) { }
    z_stream m_z{};
    bool m_deflating;
    bool m_ok = false;
};

// ---------------------------------------------------------------------------------------
// Connections

constexpr uint8_t OpContinuation = 0x0;
constexpr uint8_t OpText = 0x1;
constexpr uint8_t OpBinary = 0x2;
constexpr uint8_t OpClose = 0x8;
constexpr uint8_t OpPing = 0x9;
constexpr uint8_t OpPong = 0xA;
// ORed into Conn::frameOpcode while a data frame's payload is compressed (RSV1 on the
// message's first frame), so the payload loop needs no test of its own for it.
constexpr uint8_t Inflate = 0x10;
constexpr uint8_t Rsv1 = 0x40;
constexpr size_t PrefixSize = 8;
// Publish: the largest message gathered (a join reply holds the topic's whole presence).
constexpr size_t MaxGathered = 16 << 20;
// Publish: joins sent at once. The server answers each with the whole presence so far;
// a few at a time keep those replies from piling up in its memory before the RSS sample.
constexpr int MaxJoinsInFlight = 16;

enum class Kind : uint8_t { WebSocket, Http };
enum class State : uint8_t { Unused, Connecting, Handshake, Open, Closed };

struct Conn
{
    int fd = -1;
    uint32_t index = 0;
    Kind kind = Kind::WebSocket;
    State state = State::Unused;
    bool writeArmed = false;
    bool ready = false; // WebSocket: greeted; HTTP: connected

    std::string out;
    size_t outPos = 0;
    std::string in; // handshake response, HTTP responses
    std::string acceptKey; // the Sec-WebSocket-Accept the server must answer

    // Frame parser
    uint8_t header[14]{};
    uint8_t headerSize = 0;
    uint8_t headerNeed = 2;
    bool inPayload = false;
    uint8_t frameOpcode = 0;
    bool frameFin = false;
    uint64_t payloadLeft = 0;
    std::string control;

    // Data message in progress, and what it must be
    uint8_t messageOpcode = 0; // 0: none in progress
    uint64_t messageOffset = 0;
    bool messageOk = true;
    const char *expected = nullptr;
    size_t expectedSize = 0;
    uint8_t expectedOpcode = 0;
    bool expectedHasPrefix = false;
    char prefix[PrefixSize]{};

    // Echo
    uint64_t sendSeq = 0;
    uint64_t recvSeq = 0;
    std::vector<int64_t> sentAt; // ring of --inflight send times
    // Broadcast and publish: the last round (one POSTed message) this client received
    int64_t lastRound = -1;
    // Publish: this client joins the topic; it has had the reply; the message so far
    bool subscriber = false;
    bool joined = false;
    int presences = 0; // in its join reply and the joins of the presence_diffs after it
    std::string gathered;
    // HTTP
    int64_t requestAt = 0;

    // permessage-deflate, when the server agreed to it
    bool deflate = false;
    bool inflating = false; // the message in progress came compressed
    bool closeAnswered = false; // --stop-server: we answered the server's close frame
    std::unique_ptr<ZStream> inflater; // created on the first compressed message
    std::unique_ptr<ZStream> deflater; // with client context takeover only
};

class LoadGen
{
public:
    explicit LoadGen(Options options)
        : m_opt(std::move(options))
        , m_channels(m_opt.mode == "publish")
        , m_random(uint64_t(nowNs()))
    {
    }
    int run();

private:
    // Setup and the loop
    bool setUp(int connections);
    bool startConnect(Conn &c, Kind kind);
    bool onSecondServer(const Conn &c) const
    {
        return m_opt.port2 != 0 && c.kind == Kind::WebSocket && c.index % 2 == 1;
    }
    void pumpConnects();
    bool openAll(int64_t deadline);
    bool runUntil(int64_t deadline, const std::function<bool()> &done);
    void handleEvent(Conn &c, uint32_t events);
    void onConnected(Conn &c);
    void onReadable(Conn &c);
    void onData(Conn &c, const uint8_t *data, size_t size);
    void onHandshake(Conn &c);
    bool acceptExtensions(Conn &c, std::string_view head);
    void feedFrames(Conn &c, const uint8_t *data, size_t size);
    bool parseHeader(Conn &c);
    template<bool Compressed> bool parseFrameHeader(Conn &c);
    void finishFrame(Conn &c);
    void inflatePayload(Conn &c, const uint8_t *data, size_t size, bool last);
    void beginMessage(Conn &c);
    bool matches(const Conn &c, const uint8_t *data, size_t size) const;
    void onMessage(Conn &c, bool ok);
    void countArrival(Conn &c, int64_t now);
    void onChannelMessage(Conn &c, bool ok, int64_t now);
    void sendJoins();
    void onReady(Conn &c);
    void feedHttp(Conn &c);
    void onHttpResponse(Conn &c, int status, std::string_view body);
    void sendFrame(Conn &c, uint8_t opcode, const char *payload, size_t size, uint8_t rsv = 0);
    void writeTag(char *tag, const Conn &c, uint64_t seq) const;
    void sendEcho(Conn &c, int64_t now);
    void sendCompressedEcho(Conn &c, int64_t now);
    bool preparePayloads();
    bool prepareDeflate();
    bool exchangeOnce();
    void stopServer(JsonLine &json);
    void sendHealthRequest(Conn &c, int64_t now);
    void flush(Conn &c);
    void armWrite(Conn &c, bool on);
    void closeConn(Conn &c, const char *why, bool error);
    void error(const std::string &what);

    // Modes
    int runIdle();
    int runEcho();
    int runBroadcast();
    bool openClients(int n);
    bool openPoster(int n);
    int runRounds(const std::string &route, int receivers, long delivered, JsonLine &json);
    int finishNotReady();
    int runPublish();
    int runHttp();
    // The measured part of echo and http: --duration seconds with m_measuring set.
    double measure(CpuMeter &cpu);
    JsonLine baseJson() const;
    int finish(JsonLine &json, bool ok);

    Options m_opt;
    const bool m_channels; // publish: clients speak switchboard.v1 on /ws/channels
    Random m_random;
    int m_epoll = -1;
    sockaddr_in m_server{};
    sockaddr_in m_server2{};
    std::string m_hostHeader;
    std::vector<Conn> m_conns;
    std::vector<uint8_t> m_readBuffer = std::vector<uint8_t>(256 * 1024);

    // Connection bookkeeping
    int m_target = 0; // WebSocket or HTTP connections to open, indices [0, m_target)
    int m_nextToOpen = 0;
    int m_pending = 0; // connecting or handshaking
    int m_ready = 0; // ready and still open
    int m_failed = 0; // never became ready
    int m_dropped = 0; // closed after becoming ready, not by us
    bool m_closingOurselves = false;
    Kind m_kind = Kind::WebSocket;
    int64_t m_firstConnectAt = 0;
    int64_t m_lastReadyAt = 0;

    // Verification
    uint64_t m_errors = 0;
    std::string m_firstError;
    uint64_t m_pingsReceived = 0;
    uint64_t m_closeFrames = 0;

    // Echo: payload templates (one, or 256 with --json; message seq uses template
    // seq & m_payloadMask), pre-masked frames with rotating mask keys (frame seq % count;
    // with --json one per template). Each echo carries an 8-byte tag at m_tagAt.
    std::string m_template; // the first template: all have its size
    std::vector<std::string> m_payloads;
    uint64_t m_payloadMask = 0;
    size_t m_tagAt = 0;
    size_t m_tagEnd = 0; // m_tagAt + PrefixSize, or less for a shorter payload
    struct MaskedFrame
    {
        std::string bytes;
        size_t payloadAt = 0;
        uint8_t key[4]{};
    };
    std::vector<MaskedFrame> m_maskedFrames;
    // Bytes the sockets sent and received, framing included (and the handshakes).
    uint64_t m_bytesOut = 0;
    uint64_t m_bytesIn = 0;

    // permessage-deflate: what the first server answer said (every later one must say
    // the same), the pieces of each message sent without client context takeover, and
    // scratch space.
    std::optional<DeflateAgreement> m_agreed;
    std::string m_deflateAnswer;
    std::vector<std::string> m_compressedRests;
    std::string m_deflateOut;
    std::string m_deflateIn;
    std::vector<uint8_t> m_inflated = std::vector<uint8_t>(64 * 1024);
    uint64_t m_compressedBytesOut = 0; // payload bytes of compressed messages sent
    uint64_t m_compressedBytesIn = 0;
    uint64_t m_compressedMessagesIn = 0;
    // Idle --stop-server: the server closes the sessions; count how.
    bool m_serverStopping = false;
    uint64_t m_closeCodes1001 = 0;
    uint64_t m_closeCodesOther = 0;
    bool m_running = false; // echo/http: keep sending
    bool m_measuring = false;
    uint64_t m_completed = 0;
    uint64_t m_completedBytes = 0;
    Histogram m_latency;

    // Broadcast: the round in flight (one POSTed message) and who has it so far.
    struct Round
    {
        int64_t id = -1;
        std::string body; // 64 B, different in every round
        std::string marker; // publish: "data":"BODY", as the body appears in the message
        int received = 0;
        int64_t firstAt = 0;
        int64_t lastAt = 0;
        int64_t lastAtPrimary = 0; // --port2: the last client of each server
        int64_t lastAtSecond = 0;
        bool answered = false;
        int64_t answeredAt = 0;
        long delivered = -1; // -1: not counted (publish in a cluster: 202, accepted)
        bool accepted = false;
    };
    Round m_round;
    double m_connectSeconds = 0;

    // Publish: the join phase, what the topic's messages must say.
    std::string m_joinRequest;
    std::string m_topicField; // "topic":"NAME"
    int m_nextJoin = 0;
    int m_joinsInFlight = 0;
    int m_joined = 0;
    int64_t m_topicOffset = -1; // from the join replies: the last offset before the rounds
    uint64_t m_presenceDiffs = 0;
    int m_knowAll = 0; // subscribers that know of all --subscribers presences
};

void LoadGen::error(const std::string &what)
{
    if (m_errors++ == 0)
        m_firstError = what;
}

bool LoadGen::setUp(int connections)
{
    const rlim_t wanted = rlim_t(connections) + 64;
    if (!raiseFileLimit(wanted)) {
        std::fprintf(stderr,
                     "switchboard-loadgen: cannot raise RLIMIT_NOFILE to %llu (run as root or "
                     "raise the hard limit with ulimit -Hn)\n",
                     static_cast<unsigned long long>(wanted));
    }
    m_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (m_epoll < 0) {
        std::perror("epoll_create1");
        return false;
    }
    m_server.sin_family = AF_INET;
    m_server.sin_port = htons(uint16_t(m_opt.port));
    if (inet_pton(AF_INET, m_opt.host.c_str(), &m_server.sin_addr) != 1) {
        std::fprintf(stderr, "switchboard-loadgen: --host must be an IPv4 address\n");
        return false;
    }
    m_server2 = m_server;
    if (m_opt.port2 != 0)
        m_server2.sin_port = htons(uint16_t(m_opt.port2));
    m_hostHeader = m_opt.host + ":" + std::to_string(m_opt.port);
    m_conns.resize(size_t(connections) + 1); // +1: the broadcast's HTTP connection
    for (size_t i = 0; i < m_conns.size(); ++i)
        m_conns[i].index = uint32_t(i);
    return true;
}

bool LoadGen::startConnect(Conn &c, Kind kind)
{
    c.kind = kind;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        error(std::string("socket: ") + std::strerror(errno));
        return false;
    }
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (m_opt.sources > 1) {
        // Several loopback source addresses multiply the ~28k ephemeral ports available per
        // destination; the port is picked at connect() time, per 4-tuple.
        setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in source{};
        source.sin_family = AF_INET;
        source.sin_addr.s_addr = htonl(0x7f000001u + c.index % uint32_t(m_opt.sources));
        if (::bind(c.fd, reinterpret_cast<const sockaddr *>(&source), sizeof source) != 0) {
            error(std::string("bind: ") + std::strerror(errno));
            ::close(c.fd);
            c.fd = -1;
            return false;
        }
    }
    const sockaddr_in &server = onSecondServer(c) ? m_server2 : m_server;
    if (::connect(c.fd, reinterpret_cast<const sockaddr *>(&server), sizeof server) != 0
        && errno != EINPROGRESS) {
        error(std::string("connect: ") + std::strerror(errno));
        ::close(c.fd);
        c.fd = -1;
        return false;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT;
    event.data.u32 = c.index;
    if (epoll_ctl(m_epoll, EPOLL_CTL_ADD, c.fd, &event) != 0) {
        error(std::string("epoll_ctl: ") + std::strerror(errno));
        ::close(c.fd);
        c.fd = -1;
        return false;
    }
    c.writeArmed = true;
    c.state = State::Connecting;
    return true;
}

void LoadGen::pumpConnects()
{
    while (m_pending < m_opt.connectConcurrency && m_nextToOpen < m_target) {
        Conn &c = m_conns[size_t(m_nextToOpen++)];
        if (startConnect(c, m_kind)) {
            ++m_pending;
        } else {
            c.state = State::Closed;
            ++m_failed;
        }
    }
}

bool LoadGen::openAll(int64_t deadline)
{
    m_firstConnectAt = nowNs();
    pumpConnects();
    return runUntil(deadline, [this] { return m_ready + m_failed + m_dropped >= m_target; });
}

bool LoadGen::runUntil(int64_t deadline, const std::function<bool()> &done)
{
    std::array<epoll_event, 1024> events;
    for (;;) {
        if (done())
            return true;
        const int64_t now = nowNs();
        if (now >= deadline)
            return false;
        const int timeoutMs
                = int(std::clamp<int64_t>((deadline - now + 999'999) / 1'000'000, 0, 100));
        const int n = epoll_wait(m_epoll, events.data(), int(events.size()), timeoutMs);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            error(std::string("epoll_wait: ") + std::strerror(errno));
            return false;
        }
        for (int i = 0; i < n; ++i)
            handleEvent(m_conns[events[size_t(i)].data.u32], events[size_t(i)].events);
    }
}

void LoadGen::handleEvent(Conn &c, uint32_t events)
{
    if (c.state == State::Closed || c.state == State::Unused)
        return;
    if (c.state == State::Connecting) {
        onConnected(c);
        return;
    }
    if (events & EPOLLOUT)
        flush(c);
    if (c.state != State::Closed && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        onReadable(c);
}

void LoadGen::onConnected(Conn &c)
{
    int soError = 0;
    socklen_t length = sizeof soError;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &soError, &length);
    if (soError != 0) {
        closeConn(c, "connect failed", true);
        error(std::string("connect: ") + std::strerror(soError));
        return;
    }
    armWrite(c, false);
    if (c.kind == Kind::Http) {
        c.state = State::Open;
        onReady(c);
        return;
    }
    uint8_t nonce[16];
    for (size_t i = 0; i < sizeof nonce; i += 8) {
        const uint64_t r = m_random.next();
        std::memcpy(nonce + i, &r, 8);
    }
    const std::string key = base64(nonce, sizeof nonce);
    const auto digest = sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    c.acceptKey = base64(digest.data(), digest.size());
    c.out += "GET " + m_opt.path + " HTTP/1.1\r\nHost: " + m_hostHeader
            + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
            + "\r\nSec-WebSocket-Version: 13\r\n"
            + (m_channels ? "Sec-WebSocket-Protocol: switchboard.v1\r\n" : "")
            + (m_opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                               "client_max_window_bits\r\n\r\n"
                             : "\r\n");
    c.state = State::Handshake;
    flush(c);
}

void LoadGen::onReadable(Conn &c)
{
    // A few reads per wake-up: large messages need fewer epoll round trips, small ones
    // stop at the first short read.
    for (int round = 0; round < 4; ++round) {
        const ssize_t n = ::recv(c.fd, m_readBuffer.data(), m_readBuffer.size(), 0);
        if (n > 0) {
            m_bytesIn += uint64_t(n);
            onData(c, m_readBuffer.data(), size_t(n));
            if (c.state == State::Closed)
                return;
            if (size_t(n) < m_readBuffer.size())
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        closeConn(c, n == 0 ? "closed by server" : std::strerror(errno),
                  !m_closingOurselves && !m_serverStopping);
        return;
    }
    flush(c);
}

void LoadGen::onData(Conn &c, const uint8_t *data, size_t size)
{
    if (c.kind == Kind::Http) {
        c.in.append(reinterpret_cast<const char *>(data), size);
        feedHttp(c);
        return;
    }
    if (c.state == State::Handshake) {
        c.in.append(reinterpret_cast<const char *>(data), size);
        onHandshake(c);
        return;
    }
    feedFrames(c, data, size);
}

// Case-insensitive header lookup in a raw HTTP head.
std::optional<std::string_view> headerValue(std::string_view head, std::string_view name)
{
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        const size_t start = pos + 2;
        const size_t end = std::min(head.find("\r\n", start), head.size());
        const std::string_view line = head.substr(start, end - start);
        const size_t colon = line.find(':');
        if (colon == name.size()
            && std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
                   return std::tolower(uint8_t(a)) == std::tolower(uint8_t(b));
               })) {
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                value.remove_suffix(1);
            return value;
        }
        pos = end;
    }
    return std::nullopt;
}

void LoadGen::onHandshake(Conn &c)
{
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
        if (c.in.size() > 16384)
            closeConn(c, "handshake response too long", true);
        return;
    }
    const std::string_view head(c.in.data(), end);
    if (head.rfind("HTTP/1.1 101", 0) != 0) {
        error("upgrade refused: " + std::string(head.substr(0, head.find("\r\n"))));
        closeConn(c, "upgrade refused", true);
        return;
    }
    const auto accept = headerValue(head, "sec-websocket-accept");
    if (!accept || *accept != c.acceptKey) {
        error("bad Sec-WebSocket-Accept");
        closeConn(c, "bad Sec-WebSocket-Accept", true);
        return;
    }
    if (!acceptExtensions(c, head))
        return;
    if (m_channels && headerValue(head, "sec-websocket-protocol") != "switchboard.v1") {
        error("the 101 did not choose the subprotocol switchboard.v1");
        closeConn(c, "no subprotocol", true);
        return;
    }
    const std::string rest = c.in.substr(end + 4);
    c.in.clear();
    c.in.shrink_to_fit();
    c.acceptKey.clear();
    c.acceptKey.shrink_to_fit();
    c.state = State::Open;
    if (!rest.empty())
        feedFrames(c, reinterpret_cast<const uint8_t *>(rest.data()), rest.size());
}

// Every Sec-WebSocket-Extensions field of the 101, joined as one list (RFC 7230 §3.2.2).
// True if the answer fits what we offered: nothing without --deflate, exactly one
// acceptable permessage-deflate with it, the same on every connection.
bool LoadGen::acceptExtensions(Conn &c, std::string_view head)
{
    std::string answer;
    for (std::string_view rest = head;;) {
        const auto value = headerValue(rest, "sec-websocket-extensions");
        if (!value)
            break;
        answer += (answer.empty() ? "" : ", ") + std::string(*value);
        // Look again after this field for another one.
        rest = rest.substr(size_t(value->data() + value->size() - rest.data()));
    }
    std::string why;
    if (!m_opt.deflate) {
        if (answer.empty())
            return true;
        why = "the server answered an extension that was not offered: " + answer;
    } else if (answer.empty()) {
        why = "the server did not accept permessage-deflate (no Sec-WebSocket-Extensions in "
              "its 101)";
    } else if (const auto agreed = parseDeflateAnswer(answer, why)) {
        if (!m_agreed) {
            m_agreed = agreed;
            m_deflateAnswer = answer;
        }
        if (answer == m_deflateAnswer) {
            c.deflate = true;
            return true;
        }
        why = "answers differ between connections: '" + m_deflateAnswer + "' and '" + answer + "'";
    } else {
        why = "bad permessage-deflate answer '" + answer + "': " + why;
    }
    error(why);
    closeConn(c, "bad Sec-WebSocket-Extensions", true);
    return false;
}

bool LoadGen::parseHeader(Conn &c)
{
    // RSV1 starts a compressed message; everything else keeps to the plain path.
    if (c.header[0] & 0x70) [[unlikely]]
        return parseFrameHeader<true>(c);
    return parseFrameHeader<false>(c);
}

template<bool Compressed> bool LoadGen::parseFrameHeader(Conn &c)
{
    const uint8_t b0 = c.header[0];
    const uint8_t b1 = c.header[1];
    if (b1 & 0x80) {
        error("server sent a masked frame");
        closeConn(c, "protocol error", true);
        return false;
    }
    if constexpr (Compressed) {
        const uint8_t opcode = b0 & 0x0f;
        if ((b0 & 0x70) != Rsv1 || !c.deflate || (opcode != OpText && opcode != OpBinary)) {
            error(c.deflate ? "server set RSV bits on a frame that cannot carry them"
                            : "server set RSV bits");
            closeConn(c, "protocol error", true);
            return false;
        }
    }
    uint64_t length = b1 & 0x7f;
    if (length == 126) {
        length = uint64_t(c.header[2]) << 8 | c.header[3];
    } else if (length == 127) {
        length = 0;
        for (int i = 2; i < 10; ++i)
            length = length << 8 | c.header[i];
    }
    c.frameFin = b0 & 0x80;
    c.frameOpcode = b0 & 0x0f;
    c.payloadLeft = length;
    c.inPayload = true;
    c.headerSize = 0;
    c.headerNeed = 2;
    if (c.frameOpcode & 0x8) {
        if (length > 125 || !c.frameFin) {
            error("bad control frame");
            closeConn(c, "protocol error", true);
            return false;
        }
        c.control.clear();
    } else if (c.frameOpcode == OpContinuation) {
        if (c.messageOpcode == 0) {
            error("continuation frame without a message");
            closeConn(c, "protocol error", true);
            return false;
        }
        if (c.inflating)
            c.frameOpcode |= Inflate;
    } else if (c.frameOpcode == OpText || c.frameOpcode == OpBinary) {
        if (c.messageOpcode != 0) {
            error("new message inside a fragmented one");
            closeConn(c, "protocol error", true);
            return false;
        }
        c.messageOpcode = c.frameOpcode;
        c.messageOffset = 0;
        c.messageOk = true;
        beginMessage(c);
        if constexpr (Compressed) {
            c.inflating = true;
            c.frameOpcode |= Inflate;
            ++m_compressedMessagesIn;
        }
    } else {
        error("unknown opcode");
        closeConn(c, "protocol error", true);
        return false;
    }
    return true;
}

void LoadGen::feedFrames(Conn &c, const uint8_t *data, size_t size)
{
    while (size > 0 && c.state == State::Open) {
        if (!c.inPayload) {
            const size_t take = std::min<size_t>(size_t(c.headerNeed - c.headerSize), size);
            std::memcpy(c.header + c.headerSize, data, take);
            c.headerSize = uint8_t(c.headerSize + take);
            data += take;
            size -= take;
            if (c.headerSize < c.headerNeed)
                return;
            if (c.headerNeed == 2) {
                const uint8_t length = c.header[1] & 0x7f;
                c.headerNeed = length == 126 ? 4 : length == 127 ? 10 : 2;
                if (c.headerNeed > 2)
                    continue;
            }
            if (!parseHeader(c))
                return;
            if (c.payloadLeft == 0)
                finishFrame(c);
            continue;
        }
        const size_t take = size_t(std::min<uint64_t>(c.payloadLeft, size));
        if (c.frameOpcode & (0x8 | Inflate)) {
            if (c.frameOpcode & Inflate) {
                inflatePayload(c, data, take, false);
                if (c.state != State::Open)
                    return;
            } else {
                c.control.append(reinterpret_cast<const char *>(data), take);
            }
        } else {
            if (m_channels) [[unlikely]] {
                if (c.gathered.size() + take <= MaxGathered)
                    c.gathered.append(reinterpret_cast<const char *>(data), take);
                else
                    c.messageOk = false;
            } else if (c.messageOk && !matches(c, data, take)) {
                c.messageOk = false;
            }
            c.messageOffset += take;
        }
        data += take;
        size -= take;
        c.payloadLeft -= take;
        if (c.payloadLeft == 0)
            finishFrame(c);
    }
}

void LoadGen::finishFrame(Conn &c)
{
    c.inPayload = false;
    switch (c.frameOpcode) {
    case OpPing:
        ++m_pingsReceived;
        sendFrame(c, OpPong, c.control.data(), c.control.size());
        return;
    case OpPong:
        return;
    case OpClose: {
        ++m_closeFrames;
        const unsigned code = c.control.size() >= 2
                ? unsigned(uint8_t(c.control[0])) << 8 | uint8_t(c.control[1])
                : 1005;
        if (m_serverStopping) {
            // Answer as a browser does (RFC 6455 §5.5.1) and wait for the server to close
            // the TCP connection.
            ++(code == 1001 ? m_closeCodes1001 : m_closeCodesOther);
            if (!c.closeAnswered) {
                c.closeAnswered = true;
                sendFrame(c, OpClose, c.control.data(), std::min<size_t>(c.control.size(), 2));
            }
            return;
        }
        const std::string why = "close frame " + std::to_string(code) + " "
                + (c.control.size() > 2 ? c.control.substr(2) : std::string());
        if (!m_closingOurselves)
            error("server closed a session: " + why);
        closeConn(c, why.c_str(), !m_closingOurselves);
        return;
    }
    case Inflate | OpText:
    case Inflate | OpBinary:
    case Inflate | OpContinuation:
        if (c.frameFin) {
            static constexpr uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
            inflatePayload(c, tail, sizeof tail, true);
            if (c.state != State::Open)
                return;
        }
        break;
    default:
        break;
    }
    if (!c.frameFin)
        return;
    const bool ok = c.messageOk && (m_channels || c.messageOffset == c.expectedSize)
            && c.messageOpcode == c.expectedOpcode;
    c.messageOpcode = 0;
    onMessage(c, ok);
}

// A piece of a compressed message's payload (or, with `last`, the 00 00 ff ff tail the
// sender removed): inflated in steps into m_inflated, each step checked like plain
// payload. Inflation goes on after a mismatch so that a kept window stays in step.
void LoadGen::inflatePayload(Conn &c, const uint8_t *data, size_t size, bool last)
{
    if (!c.inflater) {
        c.inflater = ZStream::inflater();
        if (!c.inflater->ok()) {
            error("inflateInit2 failed");
            closeConn(c, "zlib", true);
            return;
        }
    }
    m_compressedBytesIn += last ? 0 : size;
    z_stream &z = c.inflater->z();
    z.next_in = const_cast<Bytef *>(data);
    z.avail_in = uInt(size);
    bool ended = false;
    do {
        z.next_out = m_inflated.data();
        z.avail_out = uInt(m_inflated.size());
        const int rc = inflate(&z, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
            error("inflate failed on connection " + std::to_string(c.index) + ": "
                  + (z.msg ? z.msg : std::to_string(rc)));
            closeConn(c, "corrupt compressed message", true);
            return;
        }
        const size_t produced = m_inflated.size() - z.avail_out;
        if (produced > 0) {
            if (c.messageOk && !matches(c, m_inflated.data(), produced))
                c.messageOk = false;
            c.messageOffset += produced;
        }
        if (rc == Z_STREAM_END) {
            // A final block (BFINAL): legal, though no server here sends one. What
            // follows belongs to no stream; the next message starts a fresh one.
            ended = true;
            break;
        }
        if (c.messageOffset > c.expectedSize + m_inflated.size()) {
            error("a compressed message inflates far beyond what was expected");
            closeConn(c, "message too big", true);
            return;
        }
    } while (z.avail_in > 0 || z.avail_out == 0);
    if (last) {
        c.inflating = false;
        if (ended || m_agreed->serverNoContextTakeover)
            inflateReset(&z);
    }
}

void LoadGen::beginMessage(Conn &c)
{
    c.expectedHasPrefix = false;
    if (m_channels) {
        // switchboard.v1: JSON in which offsets, times and presences vary; gathered whole
        // and searched in onChannelMessage().
        c.gathered.clear();
        c.expected = nullptr;
        c.expectedOpcode = OpText;
        return;
    }
    if (!c.ready) {
        static const char greeting[] = "start";
        c.expected = greeting;
        c.expectedSize = sizeof greeting - 1;
        c.expectedOpcode = OpText;
    } else if (m_opt.mode == "echo" || (m_opt.echoOnce && c.recvSeq < c.sendSeq)) {
        const std::string &payload = m_payloads[c.recvSeq & m_payloadMask];
        c.expected = payload.data();
        c.expectedSize = payload.size();
        c.expectedOpcode = m_opt.binary ? OpBinary : OpText;
        c.expectedHasPrefix = true;
        // The tag names this connection and sequence number, so an echo that comes
        // back on the wrong connection or out of order does not match.
        char tag[PrefixSize + 1];
        writeTag(tag, c, c.recvSeq);
        std::memcpy(c.prefix, tag, PrefixSize);
    } else if (m_opt.mode == "broadcast") {
        c.expected = m_round.body.data();
        c.expectedSize = m_round.body.size();
        c.expectedOpcode = OpText;
    } else {
        c.expected = nullptr; // idle: nothing but the greeting may arrive
        c.expectedSize = 0;
        c.expectedOpcode = 0;
    }
}

bool LoadGen::matches(const Conn &c, const uint8_t *data, size_t size) const
{
    if (!c.expected || c.messageOffset + size > c.expectedSize)
        return false;
    size_t i = 0;
    if (c.expectedHasPrefix && c.messageOffset < m_tagEnd) {
        // Up to the tag's end byte by byte: the template, then the tag in its place.
        for (; i < size && c.messageOffset + i < m_tagEnd; ++i) {
            const size_t at = c.messageOffset + i;
            const char want = at >= m_tagAt ? c.prefix[at - m_tagAt] : c.expected[at];
            if (data[i] != uint8_t(want))
                return false;
        }
    }
    return std::memcmp(data + i, c.expected + c.messageOffset + i, size - i) == 0;
}

void LoadGen::onMessage(Conn &c, bool ok)
{
    const int64_t now = nowNs();
    if (m_channels) {
        onChannelMessage(c, ok, now);
        return;
    }
    if (!c.ready) {
        if (!ok) {
            error("the first message was not the text greeting \"start\"");
            closeConn(c, "bad greeting", true);
            return;
        }
        onReady(c);
        return;
    }
    if (m_opt.mode == "echo") {
        if (!ok) {
            error("echo mismatch on connection " + std::to_string(c.index) + " message "
                  + std::to_string(c.recvSeq));
            closeConn(c, "echo mismatch", true);
            return;
        }
        const uint64_t seq = c.recvSeq++;
        if (m_measuring) {
            m_latency.add(now - c.sentAt[seq % c.sentAt.size()]);
            ++m_completed;
            m_completedBytes += m_template.size();
        }
        if (m_running)
            sendEcho(c, now);
        return;
    }
    if (m_opt.mode == "broadcast") {
        if (!ok) {
            error("broadcast " + std::to_string(m_round.id) + " arrived altered on client "
                  + std::to_string(c.index));
            return;
        }
        countArrival(c, now);
        return;
    }
    if (m_opt.echoOnce && c.recvSeq < c.sendSeq) {
        if (!ok) {
            error("echo mismatch on connection " + std::to_string(c.index));
            closeConn(c, "echo mismatch", true);
            return;
        }
        ++c.recvSeq;
        return;
    }
    error("unexpected data message on an idle connection");
}

// This round's message reached client c: once only; the first and the last arrival noted.
void LoadGen::countArrival(Conn &c, int64_t now)
{
    if (c.lastRound == m_round.id) {
        error(m_opt.mode + " " + std::to_string(m_round.id) + " delivered twice to client "
              + std::to_string(c.index));
        return;
    }
    c.lastRound = m_round.id;
    if (m_round.received++ == 0)
        m_round.firstAt = now;
    m_round.lastAt = now;
    (onSecondServer(c) ? m_round.lastAtSecond : m_round.lastAtPrimary) = now;
}

// Publish: one whole switchboard.v1 message, told apart by what it contains: the
// greeting, a join reply, a presence_diff (each subscriber hears of every join its reply
// did not show), or the round's message, which only subscribers may get.
void LoadGen::onChannelMessage(Conn &c, bool ok, int64_t now)
{
    const std::string_view m = c.gathered;
    const auto has = [m](std::string_view part) {
        return m.find(part) != std::string_view::npos;
    };
    // The number after "key":, or -1.
    const auto number = [m](std::string_view key) -> int64_t {
        const size_t at = m.find(key);
        return at == std::string_view::npos
                ? -1
                : std::strtoll(m.data() + at + key.size(), nullptr, 10); // ends at , or }
    };
    const auto client = " on client " + std::to_string(c.index);
    // The presences a reply or a diff shows, added to what c knows: each one's meta names
    // its session once. In the end each subscriber must know all of them, none twice.
    const auto learnPresences = [&] {
        const int k = m_opt.subscribers;
        const int before = c.presences;
        constexpr std::string_view session = R"("session":)";
        for (size_t at = m.find(session); at != std::string_view::npos;
             at = m.find(session, at + session.size()))
            ++c.presences;
        if (before < k && c.presences >= k)
            ++m_knowAll;
        if (before <= k && c.presences > k)
            error("more presences than the " + std::to_string(k) + " subscribers" + client);
    };
    if (!ok) {
        error("a binary or oversized message" + client);
        closeConn(c, "bad message", true);
    } else if (!c.ready) {
        if (has(R"("type":"hello")") && has(R"("protocol":"switchboard.v1")")) {
            onReady(c);
        } else {
            error("the first message was not the switchboard.v1 hello" + client);
            closeConn(c, "bad greeting", true);
        }
    } else if (m_round.id >= 0 && has(m_round.marker)) {
        if (!c.subscriber)
            error("publish " + std::to_string(m_round.id) + " reached a client that did not join"
                  + client);
        else if (!has(R"("type":"message")") || !has(m_topicField))
            error("publish " + std::to_string(m_round.id) + " arrived without its type or topic"
                  + client + ": " + std::string(m.substr(0, 300)));
        else if (number(R"("offset":)") != m_topicOffset + 1 + m_round.id)
            error("publish " + std::to_string(m_round.id) + " arrived with offset "
                  + std::to_string(number(R"("offset":)")) + ", expected "
                  + std::to_string(m_topicOffset + 1 + m_round.id) + client);
        else
            countArrival(c, now);
    } else if (has(R"("type":"presence_diff")")) {
        // Every one should have come before the first publish, and nobody leaves.
        if (!c.joined || m_round.id >= 0 || !has(R"("leaves":{})"))
            error(std::string(!c.joined ? "a presence_diff before this client joined"
                                      : m_round.id >= 0 ? "a presence_diff during the publishes"
                                                        : "a presence_diff with leaves")
                  + client);
        ++m_presenceDiffs;
        learnPresences();
    } else if (c.subscriber && !c.joined && has(R"("type":"reply")")) {
        if (!has(R"("status":"ok")") || !has(m_topicField) || number(R"("ref":)") != 1)
            error("bad join reply" + client + ": " + std::string(m.substr(0, 300)));
        learnPresences();
        c.joined = true;
        ++m_joined;
        --m_joinsInFlight;
        // Nothing is published during the joins: every reply, from either instance of a
        // cluster, must name the same offset, the one the publishes' messages count from.
        const int64_t offset = number(R"("offset":)");
        if (m_topicOffset >= 0 && offset != m_topicOffset)
            error("join reply with offset " + std::to_string(offset) + " after one with "
                  + std::to_string(m_topicOffset) + client);
        m_topicOffset = offset;
        sendJoins();
    } else {
        error("unexpected message" + client + ": " + std::string(m.substr(0, 300)));
    }
    // A join reply can be large; most clients never see another one.
    if (c.gathered.capacity() > 64 * 1024)
        std::string().swap(c.gathered);
}

void LoadGen::sendJoins()
{
    while (m_joinsInFlight < MaxJoinsInFlight && m_nextJoin < m_opt.connections) {
        Conn &c = m_conns[size_t(m_nextJoin++)];
        if (!c.subscriber || c.state != State::Open)
            continue;
        sendFrame(c, OpText, m_joinRequest.data(), m_joinRequest.size());
        flush(c);
        ++m_joinsInFlight;
    }
}

void LoadGen::onReady(Conn &c)
{
    c.ready = true;
    --m_pending;
    ++m_ready;
    m_lastReadyAt = nowNs();
    if (m_running) {
        if (m_opt.mode == "echo") {
            for (size_t i = 0; i < c.sentAt.size(); ++i)
                sendEcho(c, m_lastReadyAt);
        } else if (m_opt.mode == "http") {
            sendHealthRequest(c, m_lastReadyAt);
        }
        flush(c);
    }
    pumpConnects();
}

void LoadGen::feedHttp(Conn &c)
{
    for (;;) {
        const size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (c.in.size() > 65536)
                closeConn(c, "HTTP head too long", true);
            return;
        }
        const std::string_view head(c.in.data(), end);
        int status = 0;
        if (head.rfind("HTTP/1.1 ", 0) == 0)
            status = std::atoi(std::string(head.substr(9, 3)).c_str());
        const auto length = headerValue(head, "content-length");
        if (!length) {
            error("HTTP response without Content-Length");
            closeConn(c, "no Content-Length", true);
            return;
        }
        const size_t bodySize = size_t(std::strtoull(std::string(*length).c_str(), nullptr, 10));
        if (c.in.size() < end + 4 + bodySize)
            return;
        const auto connection = headerValue(head, "connection");
        const bool closing = connection && connection->find("close") != std::string_view::npos;
        onHttpResponse(c, status, std::string_view(c.in).substr(end + 4, bodySize));
        if (c.state == State::Closed)
            return;
        c.in.erase(0, end + 4 + bodySize);
        if (closing) {
            error("server closed a keep-alive connection");
            closeConn(c, "Connection: close", true);
            return;
        }
    }
}

void LoadGen::onHttpResponse(Conn &c, int status, std::string_view body)
{
    const int64_t now = nowNs();
    if (m_opt.mode == "http") {
        if (status != 200 || body.find("\"status\":\"ok\"") == std::string_view::npos) {
            error("bad /api/health answer: " + std::to_string(status) + " " + std::string(body));
        } else if (m_measuring) {
            m_latency.add(now - c.requestAt);
            ++m_completed;
        }
        if (m_running)
            sendHealthRequest(c, now);
        return;
    }
    if (m_opt.mode == "broadcast" || m_channels) {
        m_round.answered = true;
        m_round.answeredAt = now;
        if (m_channels && status == 202) {
            // A cluster answers before Redis has assigned the offset, so there is neither
            // an offset nor a count here; each message's offset is still checked against
            // the join replies', which is what the 200 answer's offset is compared with.
            m_round.accepted = true;
            if (body.find(R"("accepted":true)") == std::string_view::npos
                || body.find(m_topicField) == std::string_view::npos)
                error("bad answer to publish " + std::to_string(m_round.id) + ": 202 "
                      + std::string(body));
            return;
        }
        const size_t at = body.find("\"delivered\":");
        if (status != 200 || at == std::string_view::npos) {
            error("bad answer to " + m_opt.mode + " " + std::to_string(m_round.id) + ": "
                  + std::to_string(status) + " " + std::string(body));
            return;
        }
        m_round.delivered = std::strtol(std::string(body.substr(at + 12)).c_str(), nullptr, 10);
        // A publish answers with the offset it got: the one its message carries.
        const size_t offset = body.find("\"offset\":");
        if (m_channels
            && (offset == std::string_view::npos
                || std::strtoll(std::string(body.substr(offset + 9)).c_str(), nullptr, 10)
                        != m_topicOffset + 1 + m_round.id))
            error("publish " + std::to_string(m_round.id)
                  + " answered without the expected offset: " + std::string(body));
        return;
    }
    error("unexpected HTTP response");
}

void LoadGen::sendFrame(Conn &c, uint8_t opcode, const char *payload, size_t size, uint8_t rsv)
{
    uint8_t head[14];
    size_t headSize = 2;
    head[0] = uint8_t(0x80 | rsv | opcode);
    if (size < 126) {
        head[1] = uint8_t(0x80 | size);
    } else if (size < 65536) {
        head[1] = 0x80 | 126;
        head[2] = uint8_t(size >> 8);
        head[3] = uint8_t(size);
        headSize = 4;
    } else {
        head[1] = 0x80 | 127;
        for (int i = 0; i < 8; ++i)
            head[2 + i] = uint8_t(uint64_t(size) >> (56 - 8 * i));
        headSize = 10;
    }
    const uint64_t r = m_random.next();
    uint8_t key[4];
    std::memcpy(key, &r, 4);
    c.out.append(reinterpret_cast<const char *>(head), headSize);
    c.out.append(reinterpret_cast<const char *>(key), 4);
    const size_t at = c.out.size();
    c.out.append(payload, size);
    maskPayload(c.out.data() + at, size, key);
}

// The 8-byte tag of message `seq` on connection c: 7 hex digits and a dot.
void LoadGen::writeTag(char *tag, const Conn &c, uint64_t seq) const
{
    const auto value = uint32_t(seq) ^ (c.index * 0x9E3779B9u);
    std::snprintf(tag, PrefixSize + 1, "%07x", value & 0x0fffffffu);
    tag[PrefixSize - 1] = '.';
}

void LoadGen::sendEcho(Conn &c, int64_t now)
{
    if (c.deflate) [[unlikely]] {
        sendCompressedEcho(c, now);
        return;
    }
    const uint64_t seq = c.sendSeq++;
    c.sentAt[seq % c.sentAt.size()] = now;
    // Frames come pre-masked (a few rotating keys); only the tag is masked here.
    const MaskedFrame &frame = m_maskedFrames[seq % m_maskedFrames.size()];
    const size_t at = c.out.size();
    c.out += frame.bytes;
    char tag[PrefixSize + 1];
    writeTag(tag, c, seq);
    for (size_t i = m_tagAt; i < m_tagEnd; ++i)
        c.out[at + frame.payloadAt + i] = char(uint8_t(tag[i - m_tagAt]) ^ frame.key[i & 3]);
}

// With permessage-deflate: the same message compressed, in a frame with RSV1.
// Without client context takeover each message is compressed on its own, so the part
// after the tag was compressed once per template (prepareDeflate()) and only the head up
// to the tag's end goes in front as a stored block (BFINAL 0, byte-aligned, 5 bytes of
// header): zlib's own bytes for the rest, no zlib work per message. With takeover, the
// connection's own deflater compresses the whole message, remembering earlier ones.
void LoadGen::sendCompressedEcho(Conn &c, int64_t now)
{
    const uint64_t seq = c.sendSeq++;
    c.sentAt[seq % c.sentAt.size()] = now;
    const uint64_t which = seq & m_payloadMask;
    const std::string &payload = m_payloads[which];
    char tag[PrefixSize + 1];
    writeTag(tag, c, seq);
    m_deflateOut.clear();
    if (m_agreed->clientNoContextTakeover) {
        const auto head = uint16_t(m_tagEnd);
        const char stored[5] = {'\0', char(head & 0xff), char(head >> 8), char(~head & 0xff),
                                char((~head >> 8) & 0xff)};
        m_deflateOut.append(stored, sizeof stored);
        m_deflateOut.append(payload, 0, m_tagAt);
        m_deflateOut.append(tag, m_tagEnd - m_tagAt);
        m_deflateOut += m_compressedRests[which];
    } else {
        if (!c.deflater) {
            c.deflater = ZStream::deflater(m_opt.deflateLevel, m_agreed->clientMaxWindowBits);
            if (!c.deflater->ok()) {
                error("deflateInit2 failed");
                closeConn(c, "zlib", true);
                return;
            }
        }
        m_deflateIn.assign(payload);
        std::memcpy(m_deflateIn.data() + m_tagAt, tag, m_tagEnd - m_tagAt);
        if (!c.deflater->compress(m_deflateIn, m_deflateOut)) {
            error("deflate failed");
            closeConn(c, "zlib", true);
            return;
        }
    }
    m_compressedBytesOut += m_deflateOut.size();
    sendFrame(c, m_opt.binary ? OpBinary : OpText, m_deflateOut.data(), m_deflateOut.size(), Rsv1);
}

void LoadGen::sendHealthRequest(Conn &c, int64_t now)
{
    c.requestAt = now;
    c.out += "GET /api/health HTTP/1.1\r\nHost: " + m_hostHeader + "\r\n\r\n";
}

void LoadGen::flush(Conn &c)
{
    while (c.outPos < c.out.size()) {
        const ssize_t n
                = ::send(c.fd, c.out.data() + c.outPos, c.out.size() - c.outPos, MSG_NOSIGNAL);
        if (n > 0) {
            c.outPos += size_t(n);
            m_bytesOut += uint64_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c.outPos > (1u << 20)) {
                c.out.erase(0, c.outPos);
                c.outPos = 0;
            }
            armWrite(c, true);
            return;
        }
        closeConn(c, "send failed", !m_closingOurselves && !m_serverStopping);
        return;
    }
    c.out.clear();
    c.outPos = 0;
    if (c.writeArmed)
        armWrite(c, false);
}

void LoadGen::armWrite(Conn &c, bool on)
{
    if (c.writeArmed == on)
        return;
    epoll_event event{};
    event.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    event.data.u32 = c.index;
    epoll_ctl(m_epoll, EPOLL_CTL_MOD, c.fd, &event);
    c.writeArmed = on;
}

void LoadGen::closeConn(Conn &c, const char *why, bool isError)
{
    if (c.state == State::Closed)
        return;
    if (c.fd >= 0)
        ::close(c.fd); // also leaves the epoll set
    c.fd = -1;
    c.state = State::Closed;
    if (c.ready) {
        --m_ready;
        if (!m_closingOurselves && !m_serverStopping)
            ++m_dropped;
    } else {
        --m_pending;
        ++m_failed;
        pumpConnects();
    }
    if (isError)
        error(std::string("connection ") + std::to_string(c.index) + ": " + why);
}

// ---------------------------------------------------------------------------------------
// Modes

JsonLine LoadGen::baseJson() const
{
    JsonLine json;
    json.add("test", m_opt.mode);
    if (!m_opt.label.empty())
        json.add("label", m_opt.label);
    json.add("connections", m_opt.connections);
    return json;
}

int LoadGen::finish(JsonLine &json, bool ok)
{
    json.add("errors", m_errors);
    if (!m_firstError.empty())
        json.add("first_error", m_firstError);
    json.add("ok", ok && m_errors == 0);
    std::printf("%s\n", json.str().c_str());
    std::fflush(stdout);
    m_closingOurselves = true;
    for (Conn &c : m_conns) {
        if (c.fd >= 0)
            ::close(c.fd);
        c.fd = -1;
    }
    return ok && m_errors == 0 ? 0 : 1;
}

// Echo payloads: one template (letters, or random bytes for binary frames) with the tag
// at its start, or with --json 256 dashboard updates with the tag inside; the frames
// pre-masked for the plain path.
bool LoadGen::preparePayloads()
{
    if (m_opt.json) {
        m_payloads = makeJsonMessages(m_opt.seed, m_opt.size, 256);
        m_tagAt = JsonTagAt;
    } else {
        std::string payload(m_opt.size, '\0');
        for (size_t i = 0; i < payload.size(); ++i)
            payload[i] = m_opt.binary ? char(m_random.next() & 0xff) : char('a' + (i * 7) % 26);
        m_payloads = {std::move(payload)};
        m_tagAt = 0;
    }
    m_payloadMask = m_payloads.size() - 1; // a power of two
    m_template = m_payloads.front();
    m_tagEnd = std::min(m_tagAt + PrefixSize, m_template.size());
    const uint8_t opcode = m_opt.binary ? OpBinary : OpText;
    // Frame seq is m_maskedFrames[seq % count]: with several templates, one frame each.
    const size_t frames = m_payloads.size() == 1 ? 8 : m_payloads.size();
    for (size_t k = 0; k < frames; ++k) {
        const std::string &payload = m_payloads[k & m_payloadMask];
        Conn scratch;
        sendFrame(scratch, opcode, payload.data(), payload.size());
        MaskedFrame frame;
        frame.bytes = std::move(scratch.out);
        frame.payloadAt = frame.bytes.size() - payload.size();
        std::memcpy(frame.key, frame.bytes.data() + frame.payloadAt - 4, 4);
        m_maskedFrames.push_back(std::move(frame));
    }
    return true;
}

// Once the server has answered: without client context takeover, each template's part
// after the tag compressed on its own (see sendCompressedEcho()).
bool LoadGen::prepareDeflate()
{
    if (!m_opt.deflate)
        return true;
    if (!m_agreed) {
        error("no connection agreed to permessage-deflate");
        return false;
    }
    if (m_agreed->clientMaxWindowBits < 9) {
        // zlib 1.2.9 and later refuse a raw 256-byte window.
        error("the server asks for client_max_window_bits=8, which zlib cannot produce");
        return false;
    }
    if (!m_agreed->clientNoContextTakeover)
        return true;
    const auto deflater = ZStream::deflater(m_opt.deflateLevel, m_agreed->clientMaxWindowBits);
    m_compressedRests.clear();
    for (const std::string &payload : m_payloads) {
        std::string rest;
        if (!deflater->ok() || deflateReset(&deflater->z()) != Z_OK
            || !deflater->compress(std::string_view(payload).substr(m_tagEnd), rest)) {
            error("deflate failed");
            return false;
        }
        m_compressedRests.push_back(std::move(rest));
    }
    return true;
}

// Idle --echo-once: every open connection sends one message and gets it back, checked.
bool LoadGen::exchangeOnce()
{
    if (!preparePayloads() || !prepareDeflate())
        return false;
    const int64_t now = nowNs();
    for (Conn &c : m_conns) {
        if (c.state != State::Open || c.kind != Kind::WebSocket)
            continue;
        c.sentAt.assign(1, 0);
        sendEcho(c, now);
        flush(c);
    }
    const bool done = runUntil(now + secondsToNs(30), [this] {
        for (const Conn &c : m_conns) {
            if (c.state == State::Open && c.recvSeq != c.sendSeq)
                return false;
        }
        return true;
    });
    if (!done)
        error("echoes still missing 30 s after sending one on every connection");
    return done;
}

// Idle --stop-server: SIGTERM with every session open. Each close frame is answered as a
// browser would; the figures are the time until the server had closed every connection
// and until its process had exited.
void LoadGen::stopServer(JsonLine &json)
{
    m_serverStopping = true;
    const int open = m_ready;
    const int64_t t0 = nowNs();
    if (::kill(m_opt.pid, SIGTERM) != 0) {
        error(std::string("kill: ") + std::strerror(errno));
        return;
    }
    const int64_t deadline = t0 + secondsToNs(30);
    int64_t closedAt = 0;
    int64_t exitedAt = 0;
    while ((closedAt == 0 || exitedAt == 0) && nowNs() < deadline) {
        // Short slices, so that the exit is seen within 2 ms while nothing else happens.
        runUntil(std::min(deadline, nowNs() + secondsToNs(0.002)), [this] { return m_ready == 0; });
        const int64_t now = nowNs();
        if (closedAt == 0 && m_ready == 0)
            closedAt = now;
        if (exitedAt == 0 && processExited(m_opt.pid))
            exitedAt = now;
    }
    json.add("stop_sessions_open", open)
            .add("stop_closed_1001", m_closeCodes1001)
            .add("stop_closed_other_code", m_closeCodesOther)
            .add("stop_still_open", m_ready);
    if (closedAt)
        json.add("stop_all_closed_s", double(closedAt - t0) / 1e9);
    if (exitedAt)
        json.add("shutdown_s", double(exitedAt - t0) / 1e9);
    if (!exitedAt)
        error("the server had not exited 30 s after SIGTERM");
    else if (m_closeCodes1001 != uint64_t(open))
        error(std::to_string(open - int(m_closeCodes1001))
              + " sessions were not closed with 1001 before the server exited");
}

int LoadGen::runIdle()
{
    const int n = m_opt.connections;
    if (!setUp(n))
        return 2;
    m_target = n;
    const long rssBefore = readRssKib(m_opt.pid);
    const bool opened = openAll(nowNs() + secondsToNs(m_opt.connectTimeout));
    const double connectSeconds = double(m_lastReadyAt - m_firstConnectAt) / 1e9;
    const int readyAfterConnect = m_ready;
    const bool exchanged = !m_opt.echoOnce || (opened && exchangeOnce());
    runUntil(nowNs() + secondsToNs(m_opt.settle), [] { return false; });
    const long rssConnected = readRssKib(m_opt.pid);
    const uint64_t pingsBefore = m_pingsReceived;
    const double serverCpu0 = readCpuSeconds(m_opt.pid);
    runUntil(nowNs() + secondsToNs(m_opt.hold), [] { return false; });
    const double serverCpu1 = readCpuSeconds(m_opt.pid);
    const long rssEnd = readRssKib(m_opt.pid);

    JsonLine json = baseJson();
    json.add("held", m_ready)
            .add("failed", m_failed)
            .add("dropped", m_dropped)
            .add("connect_s", connectSeconds)
            .add("connect_per_s", connectSeconds > 0 ? readyAfterConnect / connectSeconds : 0.0, 0)
            .add("hold_s", m_opt.hold, 1)
            .add("pings_during_hold", m_pingsReceived - pingsBefore)
            .add("rss_before_kib", rssBefore)
            .add("rss_connected_kib", rssConnected)
            .add("rss_end_kib", rssEnd);
    // Idle connections should cost nothing but the pings.
    if (serverCpu0 >= 0 && serverCpu1 >= 0 && m_opt.hold > 0)
        json.add("server_cpu_pct_hold", (serverCpu1 - serverCpu0) / m_opt.hold * 100, 1);
    if (rssBefore > 0 && readyAfterConnect > 0 && m_ready > 0) {
        json.add("rss_per_conn_connected_kib",
                 double(rssConnected - rssBefore) / double(readyAfterConnect), 2);
        json.add("rss_per_conn_kib", double(rssEnd - rssBefore) / double(m_ready), 2);
    }
    if (m_opt.echoOnce) {
        json.add("echoed_once", exchanged);
        if (m_opt.deflate) {
            json.add("deflate", m_deflateAnswer)
                    .add("compressed_messages_received", m_compressedMessagesIn);
        }
    }
    const bool held = opened && exchanged && m_ready == n && m_dropped == 0;
    if (m_opt.stopServer)
        stopServer(json);
    return finish(json, held);
}

int LoadGen::runEcho()
{
    const int n = m_opt.connections;
    if (!setUp(n))
        return 2;
    // Payload: an 8-byte per-message tag, in a fixed template (ASCII for text frames, all
    // byte values for binary ones) or in one of 256 JSON messages.
    preparePayloads();
    for (Conn &c : m_conns)
        c.sentAt.assign(size_t(m_opt.inflight), 0);
    m_target = n;
    const bool opened = openAll(nowNs() + secondsToNs(m_opt.connectTimeout));
    if (!opened || m_ready != n || !prepareDeflate()) {
        JsonLine json = baseJson();
        json.add("ready", m_ready);
        return finish(json, false);
    }
    m_running = true;
    const int64_t start = nowNs();
    for (int i = 0; i < n; ++i) {
        Conn &c = m_conns[size_t(i)];
        for (int k = 0; k < m_opt.inflight; ++k)
            sendEcho(c, start);
        flush(c);
    }
    runUntil(start + secondsToNs(m_opt.warmup), [] { return false; });
    CpuMeter cpu(m_opt.pid, 0);
    // What the sockets carried during the measured window, per message each way.
    auto sentSoFar = [this] {
        uint64_t sent = 0;
        for (const Conn &c : m_conns)
            sent += c.sendSeq;
        return sent;
    };
    const uint64_t sent0 = sentSoFar();
    const uint64_t bytesOut0 = m_bytesOut;
    const uint64_t bytesIn0 = m_bytesIn;
    const uint64_t compressedOut0 = m_compressedBytesOut;
    const uint64_t compressedIn0 = m_compressedBytesIn;
    const uint64_t completed0 = m_completed;
    const double seconds = measure(cpu);
    const uint64_t sentMeasured = sentSoFar() - sent0;
    const uint64_t receivedMeasured = m_completed - completed0;
    const double wireOut
            = double(m_bytesOut - bytesOut0) / double(std::max<uint64_t>(1, sentMeasured));
    const double wireIn
            = double(m_bytesIn - bytesIn0) / double(std::max<uint64_t>(1, receivedMeasured));
    const double compressedOut = double(m_compressedBytesOut - compressedOut0)
            / double(std::max<uint64_t>(1, sentMeasured));
    const double compressedIn = double(m_compressedBytesIn - compressedIn0)
            / double(std::max<uint64_t>(1, receivedMeasured));
    // Stop sending and collect what is still in flight, so every message is verified.
    m_running = false;
    const bool drained = runUntil(nowNs() + secondsToNs(10), [this, n] {
        for (int i = 0; i < n; ++i) {
            const Conn &c = m_conns[size_t(i)];
            if (c.state == State::Open && c.recvSeq != c.sendSeq)
                return false;
        }
        return true;
    });
    if (!drained)
        error("echoes still missing 10 s after the end");
    uint64_t sent = 0;
    for (const Conn &c : m_conns)
        sent += c.sendSeq;

    JsonLine json = baseJson();
    json.add("inflight", m_opt.inflight)
            .add("size", uint64_t(m_opt.size))
            .add("type", m_opt.binary ? "binary" : "text")
            .add("duration_s", seconds)
            .add("messages", m_completed)
            .add("messages_total", sent)
            .add("msg_per_s", double(m_completed) / seconds, 0)
            .add("mib_per_s", double(m_completedBytes) / seconds / (1024.0 * 1024.0), 2)
            .add("p50_us", m_latency.percentileUs(50), 1)
            .add("p99_us", m_latency.percentileUs(99), 1)
            .add("max_us", m_latency.maxUs(), 1);
    cpu.addTo(json, seconds);
    if (m_completed > 0) {
        json.add("loadgen_cpu_us_per_msg", cpu.selfSeconds() / double(m_completed) * 1e6, 2);
        if (cpu.serverSeconds() >= 0)
            json.add("server_cpu_us_per_msg", cpu.serverSeconds() / double(m_completed) * 1e6, 2);
    }
    // The same message uncompressed, as a frame: header (with the client's mask key) and
    // payload.
    const size_t size = m_template.size();
    const size_t header = 2 + (size < 126 ? 0 : size < 65536 ? 2 : 8);
    json.add("wire_out_per_msg", wireOut, 1).add("wire_in_per_msg", wireIn, 1);
    if (m_opt.deflate) {
        json.add("deflate", m_deflateAnswer)
                .add("deflate_level", m_opt.deflateLevel)
                .add("compressed_payload_out_per_msg", compressedOut, 1)
                .add("compressed_payload_in_per_msg", compressedIn, 1)
                .add("wire_ratio_out", wireOut / double(size + header + 4), 4)
                .add("wire_ratio_in", wireIn / double(size + header), 4)
                .add("compressed_messages_received", m_compressedMessagesIn);
    }
    json.add("dropped", m_dropped);
    return finish(json, m_dropped == 0 && m_completed > 0);
}

int LoadGen::runBroadcast()
{
    const int n = m_opt.connections;
    if (!setUp(n))
        return 2;
    if (!openClients(n) || !openPoster(n))
        return finishNotReady();
    // Let the server finish its own bookkeeping for the last sessions.
    runUntil(nowNs() + secondsToNs(0.5), [] { return false; });
    // Clients 0, 2, 4, ... are on --port, whose answer counts only its own sessions.
    const long primaryClients = m_opt.port2 != 0 ? long(n + 1) / 2 : long(n);
    JsonLine json = baseJson();
    return runRounds("/api/broadcast", n, primaryClients, json);
}

// Broadcast: the n WebSocket clients. False if any did not open.
bool LoadGen::openClients(int n)
{
    m_target = n;
    const bool opened = openAll(nowNs() + secondsToNs(m_opt.connectTimeout));
    m_connectSeconds = double(m_lastReadyAt - m_firstConnectAt) / 1e9;
    return opened && m_ready == n;
}

// Broadcast: once the n clients are open, the keep-alive HTTP connection that POSTs
// (index n). Opened just before the rounds: a server closes one that stays idle.
bool LoadGen::openPoster(int n)
{
    Conn &http = m_conns[size_t(n)];
    m_kind = Kind::Http;
    m_target = n + 1;
    m_nextToOpen = n;
    pumpConnects();
    if (!runUntil(nowNs() + secondsToNs(10),
                  [&http] { return http.ready || http.state == State::Closed; })
        || !http.ready) {
        error("cannot open the HTTP connection for the POSTs");
        return false;
    }
    return true;
}

int LoadGen::finishNotReady()
{
    JsonLine json = baseJson();
    json.add("ready", m_ready);
    return finish(json, false);
}

// --warmup-count + --count rounds, one at a time: POST a 64 B text body, different in
// every round, to `route` on the HTTP connection (the last one), then wait until the
// answer has come and `receivers` clients have had the message. The answer must say
// `delivered`. The time from the POST until the last client had it is the figure; it
// and the others are added to json, and the run finishes.
int LoadGen::runRounds(const std::string &route, int receivers, long delivered, JsonLine &json)
{
    Conn &http = m_conns.back();
    Histogram toLast;
    Histogram toFirst;
    Histogram toAnswer;
    Histogram toLastPrimary; // --port2 only
    Histogram toLastSecond;
    CpuMeter cpu(m_opt.pid, m_opt.pid2);
    const int64_t t0 = nowNs();
    bool ok = true;
    long deliveredMin = -1;
    int accepted = 0; // publishes answered 202: no delivered count to check
    const int total = m_opt.warmupCount + m_opt.count;
    for (int i = 0; i < total && ok; ++i) {
        // A server that takes seconds per round must not stretch the suite without end.
        if (m_opt.timeLimit > 0 && toLast.count() >= 3
            && nowNs() - t0 > secondsToNs(m_opt.timeLimit))
            break;
        m_round = Round{};
        m_round.id = i;
        char text[65];
        std::snprintf(text, sizeof text, "%s %08d ", m_opt.mode.c_str(), i);
        m_round.body = text;
        while (m_round.body.size() < 64)
            m_round.body.push_back(char('A' + (m_round.body.size() + size_t(i)) % 26));
        m_round.marker = "\"data\":\"" + m_round.body + '"';
        http.out += "POST " + route + " HTTP/1.1\r\nHost: " + m_hostHeader
                + "\r\nAuthorization: Bearer " + m_opt.token
                + "\r\nContent-Type: text/plain\r\nContent-Length: "
                + std::to_string(m_round.body.size()) + "\r\n\r\n" + m_round.body;
        const int64_t sentAt = nowNs();
        flush(http);
        const bool done = runUntil(sentAt + secondsToNs(30), [this, receivers] {
            return m_round.answered && m_round.received >= receivers - m_dropped;
        });
        if (!done) {
            error(m_opt.mode + " " + std::to_string(i) + " reached "
                  + std::to_string(m_round.received) + " of " + std::to_string(receivers)
                  + " clients within 30 s");
            ok = false;
            break;
        }
        if (m_round.accepted) {
            ++accepted;
        } else if (m_round.delivered != delivered - m_dropped) {
            error(m_opt.mode + " " + std::to_string(i)
                  + " answered delivered=" + std::to_string(m_round.delivered) + ", expected "
                  + std::to_string(delivered - m_dropped));
        }
        if (m_round.delivered >= 0)
            deliveredMin = deliveredMin < 0 ? m_round.delivered
                                            : std::min(deliveredMin, m_round.delivered);
        if (i >= m_opt.warmupCount) {
            toLast.add(m_round.lastAt - sentAt);
            toFirst.add(m_round.firstAt - sentAt);
            toAnswer.add(m_round.answeredAt - sentAt);
            if (m_opt.port2 != 0) {
                toLastPrimary.add(m_round.lastAtPrimary - sentAt);
                toLastSecond.add(m_round.lastAtSecond - sentAt);
            }
        }
        if (m_opt.gapMs > 0)
            runUntil(nowNs() + secondsToNs(m_opt.gapMs / 1e3), [] { return false; });
    }
    const double seconds = double(nowNs() - t0) / 1e9;
    cpu.stop();

    json.add(m_channels ? "publishes" : "broadcasts", toLast.count())
            .add("size", 64)
            .add("connect_s", m_connectSeconds)
            .add("p50_ms", toLast.percentileUs(50) / 1e3)
            .add("p99_ms", toLast.percentileUs(99) / 1e3)
            .add("max_ms", toLast.maxUs() / 1e3)
            .add("mean_ms", toLast.meanUs() / 1e3)
            .add("first_p50_ms", toFirst.percentileUs(50) / 1e3)
            .add("answer_p50_ms", toAnswer.percentileUs(50) / 1e3)
            .add("us_per_client_p50", toLast.percentileUs(50) / double(receivers), 2);
    if (deliveredMin >= 0)
        json.add("delivered_min", deliveredMin);
    if (accepted > 0)
        json.add("accepted", accepted);
    json.add("dropped", m_dropped);
    cpu.addTo(json, seconds);
    if (m_opt.port2 != 0) {
        // The cross-instance hop: when the last client (subscriber) of each server had it.
        json.add("primary_last_p50_ms", toLastPrimary.percentileUs(50) / 1e3)
                .add("primary_last_p99_ms", toLastPrimary.percentileUs(99) / 1e3)
                .add("second_last_p50_ms", toLastSecond.percentileUs(50) / 1e3)
                .add("second_last_p99_ms", toLastSecond.percentileUs(99) / 1e3);
    }
    return finish(json, ok && m_dropped == 0 && toLast.count() > 0);
}

// The clients join one by one (a few in flight) after the RSS sample with all of them
// connected; the second sample, once every subscriber knows of every other, gives the
// server's memory per subscription (with --port2 and --pid2: both servers', summed). Then
// the rounds, as broadcast's.
int LoadGen::runPublish()
{
    const int n = m_opt.connections;
    const int k = m_opt.subscribers;
    if (!setUp(n))
        return 2;
    // k of the n, spread evenly: the j-th client of a server joins when (j + 1) * ks / ns
    // steps up, ns its clients and ks its share of k. With --port2 the clients alternate
    // between the servers (onSecondServer) and so do the shares, so each server has half
    // of the subscribers (a spread over all n would put every tenth of 10,000 on one).
    const int servers = m_opt.port2 != 0 ? 2 : 1;
    for (int s = 0; s < servers; ++s) {
        const int64_t ns = (n - s + servers - 1) / servers;
        const int64_t ks = (k - s + servers - 1) / servers;
        for (int64_t j = 0; j < ns; ++j)
            m_conns[size_t(s + j * servers)].subscriber = (j + 1) * ks / ns != j * ks / ns;
    }
    const auto rssKib = [this] {
        const long first = readRssKib(m_opt.pid);
        if (m_opt.port2 == 0)
            return first;
        const long second = readRssKib(m_opt.pid2);
        return first >= 0 && second >= 0 ? first + second : -1;
    };
    m_joinRequest = R"({"type":"join","ref":1,"topic":")" + m_opt.topic + R"("})";
    m_topicField = R"("topic":")" + m_opt.topic + '"';
    if (!openClients(n))
        return finishNotReady();
    runUntil(nowNs() + secondsToNs(m_opt.settle), [] { return false; });
    const long rssConnected = rssKib();

    // Until every subscriber knows of all k presences, its own included: those in its join
    // reply and the joins of the presence_diffs after it. On one server the i-th join is
    // in the diffs to the i - 1 before it (k(k - 1)/2 diffs); in a cluster two joins at
    // once on two instances can each be in the other's reply, and a diff can carry several.
    const int64_t joinStart = nowNs();
    sendJoins();
    const bool joined = runUntil(joinStart + secondsToNs(m_opt.connectTimeout), [&] {
        return (m_joined == k && m_knowAll == k) || m_dropped > 0;
    });
    const double joinSeconds = double(nowNs() - joinStart) / 1e9;
    runUntil(nowNs() + secondsToNs(m_opt.settle), [] { return false; });
    const long rssJoined = rssKib();

    JsonLine json = baseJson();
    json.add("subscribers", k)
            .add("topic", m_opt.topic)
            .add("joined", m_joined)
            .add("join_s", joinSeconds)
            .add("presence_diffs", m_presenceDiffs)
            .add("rss_connected_kib", rssConnected)
            .add("rss_joined_kib", rssJoined)
            .add("rss_servers", servers);
    if (rssConnected > 0 && rssJoined > 0)
        json.add("rss_per_sub_bytes", double(rssJoined - rssConnected) * 1024 / k, 0);
    if (!joined || m_joined != k || m_knowAll != k) {
        error(std::to_string(m_joined) + " of " + std::to_string(k) + " clients joined and "
              + std::to_string(m_knowAll) + " knew of every presence ("
              + std::to_string(m_presenceDiffs) + " presence_diffs) within --connect-timeout");
        json.add("dropped", m_dropped);
        return finish(json, false);
    }
    if (!openPoster(n)) {
        json.add("dropped", m_dropped);
        return finish(json, false);
    }
    return runRounds("/api/topics/" + m_opt.topic + "/publish", k, k, json);
}

int LoadGen::runHttp()
{
    const int n = m_opt.connections;
    if (!setUp(n))
        return 2;
    m_kind = Kind::Http;
    m_target = n;
    const bool opened = openAll(nowNs() + secondsToNs(m_opt.connectTimeout));
    if (!opened || m_ready != n) {
        JsonLine json = baseJson();
        json.add("ready", m_ready);
        return finish(json, false);
    }
    m_running = true;
    const int64_t start = nowNs();
    for (int i = 0; i < n; ++i) {
        sendHealthRequest(m_conns[size_t(i)], start);
        flush(m_conns[size_t(i)]);
    }
    runUntil(start + secondsToNs(m_opt.warmup), [] { return false; });
    CpuMeter cpu(m_opt.pid, 0);
    const double seconds = measure(cpu);
    m_running = false;

    JsonLine json = baseJson();
    json.add("duration_s", seconds)
            .add("requests", m_completed)
            .add("req_per_s", double(m_completed) / seconds, 0)
            .add("p50_us", m_latency.percentileUs(50), 1)
            .add("p99_us", m_latency.percentileUs(99), 1);
    cpu.addTo(json, seconds);
    json.add("dropped", m_dropped);
    return finish(json, m_dropped == 0 && m_completed > 0);
}

double LoadGen::measure(CpuMeter &cpu)
{
    cpu.start();
    const int64_t t0 = nowNs();
    m_measuring = true;
    runUntil(t0 + secondsToNs(m_opt.duration), [] { return false; });
    m_measuring = false;
    const int64_t t1 = nowNs();
    cpu.stop();
    return double(t1 - t0) / 1e9;
}

int LoadGen::run()
{
    if (m_opt.mode == "idle")
        return runIdle();
    if (m_opt.mode == "echo")
        return runEcho();
    if (m_opt.mode == "broadcast")
        return runBroadcast();
    if (m_opt.mode == "publish")
        return runPublish();
    return runHttp();
}

} // namespace

int main(int argc, char **argv)
{
    const auto options = parseOptions(argc, argv);
    if (!options)
        return 2;
    LoadGen loadGen(*options);
    return loadGen.run();
}
