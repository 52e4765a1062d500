/**
 * uWS's cork buffer in every published build (LoopData::CORK_BUFFER_SIZE, 16 KiB; a build made with
 * a larger one is told by `outbound.uwsCorkBytes`, UwsSocketSettings.corkBytes). Frames that do not fit in it while corked,
 * and every frame sent while uWS holds backpressure for the socket, take uWS's slow path: the frame
 * is copied into the socket's backpressure buffer and the whole buffer is offered to the kernel at
 * once — one send() syscall per frame, failing with EAGAIN while the peer is behind. So frames are
 * written in cork-sized runs, and only while uWS holds nothing for the socket.
 */
export const UWS_CORK_BYTES = 16 * 1024;
