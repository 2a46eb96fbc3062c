package server

// WSClients returns the connected WebSocket clients and the results queued for them, for
// metrics. (The results hub's subscriber count also includes other consumers, such as viewers.)
func (s *Server) WSClients() (clients, queued int) {
	for _, c := range s.wsStats() {
		clients++
		queued += c.Queued
	}
	return clients, queued
}
