#include <zmq.h>
// eventfd wakes a socket thread blocked in zmq_poll.
#include <sys/eventfd.h>
