// Where taskhub runs. Mini-programs only reach HTTPS (and WSS) hosts listed as the
// app's request and socket domains in the platform's console; a development build
// may use a plain http:// address on the developer's machine.
module.exports = {
  baseUrl: 'https://taskhub.example.com',
};
