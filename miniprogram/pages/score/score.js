// The scoring form of the classic scoring mini-program, and this user's past scores.
const score = require('../../utils/score.js');
const { mp } = require('../../utils/platform.js');

Page({
  data: {
    accNbr: '',
    submitting: false,
    message: '',
    error: '',
    scores: [],
  },

  onAccNbrInput(event) {
    this.setData({ accNbr: event.detail.value });
  },

  // bindsubmit: event.detail.value holds every named field of the form
  async onSubmit(event) {
    const values = event.detail.value;
    this.setData({ submitting: true, message: '', error: '' });
    try {
      const message = await score.submit(values);
      this.setData({ message, accNbr: values.acc_nbr });
      mp.showToast({ title: message, icon: 'success' });
      await this.loadMine(values.acc_nbr);
    } catch (err) {
      this.setData({ error: err.message });
      mp.showToast({ title: err.message, icon: 'none' });
    } finally {
      this.setData({ submitting: false });
    }
  },

  async loadMine(accNbr) {
    try {
      this.setData({ scores: await score.mine(accNbr) });
    } catch (err) {
      this.setData({ error: err.message });
    }
  },

  onShowMine() {
    if (this.data.accNbr) this.loadMine(this.data.accNbr);
  },
});
