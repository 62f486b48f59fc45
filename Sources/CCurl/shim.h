#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed
// wrapper per argument kind.
static inline CURLcode pw_curl_set_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode pw_curl_set_offset(CURL *curl, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode pw_curl_set_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode pw_curl_set_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode pw_curl_set_list(CURL *curl, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(curl, option, value);
}
typedef size_t (*pw_curl_data_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode pw_curl_set_data_callback(CURL *curl, CURLoption option, pw_curl_data_callback callback) {
    return curl_easy_setopt(curl, option, callback);
}
typedef int (*pw_curl_progress_callback)(void *context, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static inline CURLcode pw_curl_set_progress_callback(CURL *curl, pw_curl_progress_callback callback) {
    return curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, callback);
}
static inline CURLcode pw_curl_get_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}
static inline CURLcode pw_curl_get_string(CURL *curl, CURLINFO info, char **value) {
    return curl_easy_getinfo(curl, info, value);
}

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

// Link-local and cloud-metadata addresses (169.254.0.0/16 with 169.254.169.254, fe80::/10,
// AWS's fd00:ec2::254, Alibaba's 100.100.100.200, and their IPv4-mapped forms): an adapter
// never comes from there, and a request steered there (SSRF) would read a host's credentials.
static inline int pw_address_is_link_local(const struct sockaddr *address) {
    if (address->sa_family == AF_INET) {
        uint32_t ip = ntohl(((const struct sockaddr_in *)address)->sin_addr.s_addr);
        return (ip >> 16) == 0xA9FE || ip == 0x646464C8;
    }
    if (address->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)address)->sin6_addr.s6_addr;
        static const uint8_t aws[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
        int mapped = 1;
        for (int i = 0; i < 10; i++) mapped &= b[i] == 0;
        mapped &= b[10] == 0xff && b[11] == 0xff;
        int same = 1;
        for (int i = 0; i < 16; i++) same &= b[i] == aws[i];
        return (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || same
            || (mapped && ((b[12] == 169 && b[13] == 254) || (b[12] == 100 && b[13] == 100 && b[14] == 100 && b[15] == 200)));
    }
    return 0;
}

// libcurl's socket opener for a transfer that must not reach those addresses; `refused` (the
// callback's data) is set when it did not open one.
static inline curl_socket_t pw_curl_open_socket_refusing_link_local(void *refused, curlsocktype purpose, struct curl_sockaddr *address) {
    (void)purpose;
    if (pw_address_is_link_local(&address->addr)) {
        *(int *)refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

static inline CURLcode pw_curl_refuse_link_local(CURL *curl, int *refused) {
    CURLcode code = curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, pw_curl_open_socket_refusing_link_local);
    return code == CURLE_OK ? curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, refused) : code;
}
