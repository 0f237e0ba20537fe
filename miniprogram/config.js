// Where taskhub runs. Mini-programs only reach HTTPS (and WSS) hosts listed as the
// app's request and socket domains in the platform's console.
module.exports = {
  baseUrl: 'https://taskhub.example.com',
};
